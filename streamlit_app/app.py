"""The studio's entry: set up, then route. Every page lives in its own file under pages/."""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from streamlit_app.common import get_backends, identity

st.set_page_config(page_title="Visualizer studio", page_icon="🛋️", layout="wide")
get_backends()

here = Path(__file__).parent / "pages"
who = identity()
if who is None:
    page = st.navigation([st.Page(here / "sign_in.py", title="Sign in", icon="🔑")])
else:
    page = st.navigation(
        [
            st.Page(here / "sessions.py", title="Sessions", icon="🗂️", default=True),
            st.Page(here / "results.py", title="Results", icon="🖼️"),
        ]
    )
page.run()
