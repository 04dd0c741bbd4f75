"""The studio's server: Streamlit's own (``st.App``) with the two routes of the sign-in cookie
(:mod:`streamlit_app.session_cookie` says why and how).

``visualizer studio`` runs this file with ``streamlit run``; the pages are ``app.py``'s.
"""

from __future__ import annotations

import sys
from pathlib import Path

import streamlit as st
from streamlit import config

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from streamlit_app import cookie_routes

_base = str(config.get_option("server.baseUrlPath") or "").strip("/")
app = st.App("app.py", routes=cookie_routes.routes(f"/{_base}" if _base else ""))
