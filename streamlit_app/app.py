"""The studio's entry: set up, then route. Every page lives in its own file under views/

(Not ``pages/``: Streamlit treats a folder of that name beside the entry file as the old
automatic multipage layout and would run a page without this file on reruns.)
"""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from streamlit_app.common import (
    account_sidebar,
    can,
    failures_as_messages,
    get_backends,
    report_failure,
    resolve_sign_in,
    scope,
)
from streamlit_app.dialogs import keyboard_guard
from visualizer_core.scope import Action

st.set_page_config(page_title="Visualizer studio", page_icon=":material/chair:", layout="wide")
get_backends()

here = Path(__file__).parent / "views"
MEMBER_VIEWS = ("sessions", "products", "inspiration", "generate", "results", "review")
who = resolve_sign_in()
if who is None:
    # A link to a page opened while signed out shows the sign-in form at that address (not
    # "page not found"); signing in then leads there.
    page = st.navigation(
        [st.Page(here / "sign_in.py", title="Sign in", icon=":material/login:")]
        + [
            st.Page(here / "sign_in.py", title="Sign in", url_path=view)
            for view in (*MEMBER_VIEWS, "usage", "settings", "account")
        ],
        position="hidden",
    )
else:
    account_sidebar(who)
    with st.sidebar:
        keyboard_guard()  # the keyboard rule's browser half (streamlit_app.dialogs)
    opened_invitation = bool(st.query_params.get("invite"))  # accepted on the account page
    pages = [
        st.Page(
            here / "sessions.py",
            title="Sessions",
            icon=":material/folder_open:",
            default=not opened_invitation,
        ),
        st.Page(here / "products.py", title="Products", icon=":material/chair:"),
        st.Page(here / "inspiration.py", title="Inspiration", icon=":material/photo_library:"),
        st.Page(here / "generate.py", title="Match & generate", icon=":material/auto_awesome:"),
        st.Page(here / "results.py", title="Results", icon=":material/collections:"),
        st.Page(here / "review.py", title="Review", icon=":material/rate_review:"),
    ]
    if can(scope(), Action.MANAGE):
        pages.append(st.Page(here / "usage.py", title="Usage", icon=":material/payments:"))
        pages.append(st.Page(here / "settings.py", title="Settings", icon=":material/settings:"))
    pages.append(
        st.Page(
            here / "account.py",
            title="Your account",
            icon=":material/person:",
            default=opened_invitation,
        )
    )
    page = st.navigation(pages)
try:
    page.run()
except Exception as error:  # people see a message and a reference, never a traceback
    if not failures_as_messages():
        raise
    report_failure(error)
