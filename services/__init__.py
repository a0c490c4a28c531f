"""The application layer: one function per action, between the pages / API and the store."""
