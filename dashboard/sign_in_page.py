"""The pages a browser sees before it is signed in: the sign-in form (dashboard/auth.py) and a
wall screen's one-time sign-in (dashboard/wall_pages.py). Plain HTML with the console's look (its
dark header, the product's title in the reader's language, a centred card), usable from a 360 px
phone to a 1920 px wall; no Dash and no script: nothing under /assets is served before sign-in.

The language is the one kept in the Flask session (dashboard/viewer.py), Chinese until the
reader picks the other with the switch in the header (`?lang=en`), and it stays after sign-in.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from flask import render_template_string, request, session

from dashboard.i18n import LANGS, t
from dashboard.viewer import LANG_KEY
from layouts.shell import LANGUAGES

# The console's colours (assets/map.css: header #14202e, buttons #1f5fa8), in the page itself:
# the style sheets under /assets are for signed-in browsers only.
STYLE = """
*{box-sizing:border-box}
html,body{margin:0;min-height:100%;background:#e9eef3;color:#14202e;
font-family:"Noto Sans CJK SC","Microsoft YaHei","PingFang SC",sans-serif}
.bar{display:flex;align-items:center;gap:12px;padding:10px 20px;background:#14202e;
color:#f2f5f8}
.brand{font-size:20px;font-weight:700;flex:1;min-width:0;overflow:hidden;text-overflow:ellipsis;
white-space:nowrap}
.lang{color:#f2f5f8;font-size:15px;text-decoration:none;border:1px solid #4a6078;
border-radius:4px;padding:3px 10px;white-space:nowrap}
.lang:hover{background:#22344a}
main{display:flex;justify-content:center;align-items:flex-start;padding:8vh 16px 32px}
.card{width:100%;max-width:400px;background:#fff;border:1px solid #c9d1d9;border-radius:8px;
box-shadow:0 6px 24px #14202e24;padding:28px 28px 24px}
.card h1{font-size:24px;margin:0 0 4px}
.sub{color:#5b6b7b;margin:0 0 20px;font-size:15px}
label{display:block;font-weight:600;font-size:15px;margin:14px 0 6px}
input{width:100%;font:inherit;font-size:17px;padding:9px 10px;border:1px solid #8a99a8;
border-radius:4px;background:#fff;color:#14202e}
input:focus{outline:3px solid #1f5fa855;border-color:#1f5fa8}
button{width:100%;margin-top:22px;font:inherit;font-size:18px;font-weight:700;padding:10px;
color:#fff;background:#1f5fa8;border:1px solid #1f5fa8;border-radius:4px;cursor:pointer}
button:hover{background:#17508f}
.error{background:#fde2e0;color:#8a120b;border:1px solid #e0261b;border-radius:4px;
padding:9px 12px;margin:0 0 6px;font-weight:600}
.note{background:#fff4cc;color:#4a3b00;border:1px solid #d9b84a;border-radius:4px;
padding:9px 12px;margin:0 0 6px}
.screen{font-size:22px;font-weight:700;margin:6px 0 0}
@media (max-width:480px){.bar{padding:8px 12px}.brand{font-size:16px;white-space:normal}
main{padding:24px 10px}.card{padding:20px 16px;border-radius:6px}}
"""

PAGE = """<!doctype html>
<html lang="{{ html_lang }}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ heading }} · {{ title }}</title><style>{{ style|safe }}</style></head><body>
<header class="bar"><span class="brand" id="signin-brand">{{ title }}</span>
<a class="lang" id="signin-lang" href="{{ switch_href }}"
 hreflang="{{ other }}">{{ other_name }}</a>
</header>
<main><div class="card">
<h1 id="signin-heading">{{ heading }}</h1>
<p class="sub">{{ sub }}</p>
{% if message %}<p class="error" role="alert" id="signin-error">{{ message }}</p>{% endif %}
{% if note %}<p class="note" role="status" id="signin-note">{{ note }}</p>{% endif %}
{{ form|safe }}
</div></main></body></html>"""

LOGIN_FORM = """<form method="post" action="/login">
<input type="hidden" name="csrf_token" value="{{ csrf_token() }}">
<input type="hidden" name="next" value="{{ next }}">
<label for="username">{{ labels.username }}</label>
<input id="username" name="username" value="{{ username }}" autocomplete="username" required
 autofocus>
<label for="password">{{ labels.password }}</label>
<input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">{{ labels.submit }}</button>
</form>"""

WALL_FORM = """{% if screen %}<p class="screen" id="wall-screen">{{ screen }}</p>
<form method="post" action="/wall/enter">
<input type="hidden" name="csrf_token" value="{{ csrf_token() }}">
<input type="hidden" name="code" value="{{ code }}">
<button type="submit" id="wall-enter">{{ submit }}</button>
</form>{% endif %}"""


def lang() -> str:
    """The reader's language: one just chosen with `?lang=` (kept in the session), else the
    session's, else Chinese."""
    asked = request.args.get("lang")
    if asked in LANGS:
        session[LANG_KEY] = asked
    chosen = session.get(LANG_KEY)
    return chosen if chosen in LANGS else LANGS[0]


def _switch(current: str, keep: dict[str, str]) -> tuple[str, str, str]:
    other = next(code for code, _ in LANGUAGES if code != current)
    name = dict(LANGUAGES)[other]
    query = urlencode({**{k: v for k, v in keep.items() if v}, "lang": other})
    return other, name, f"{request.path}?{query}"


def render(
    lang_: str,
    heading: str,
    sub: str,
    form: str,
    form_args: dict[str, Any],
    keep: dict[str, str],
    message: str = "",
    note: str = "",
) -> str:
    """One page: the header with the title and the language switch, and a card with `heading`,
    `sub`, the message (an error) or note, and `form` (a template, autoescaped)."""
    other, other_name, href = _switch(lang_, keep)
    return render_template_string(
        PAGE,
        html_lang="zh-CN" if lang_ == "zh" else "en",
        title=t("app.title", lang_),
        heading=heading,
        sub=sub,
        message=message,
        note=note,
        style=STYLE,
        other=other,
        other_name=other_name,
        switch_href=href,
        form=render_template_string(form, **form_args),
    )


def login_page(lang_: str, message: str, username: str, next_url: str) -> str:
    labels = {k: t(f"login.{k}", lang_) for k in ("username", "password", "submit")}
    return render(
        lang_,
        t("login.title", lang_),
        t("login.sub", lang_),
        LOGIN_FORM,
        {"labels": labels, "username": username, "next": next_url},
        {"next": next_url if next_url != "/" else ""},
        message,
    )
