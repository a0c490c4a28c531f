"""Page layouts, one module per page; component ids in each module's Ids enum."""
