"""What every page shares: the backends, the embedded worker, the signed-in scope, errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import streamlit as st

from visualizer_core import backends
from visualizer_core.errors import VisualizerError
from visualizer_core.scope import ClientScope
from visualizer_core.services.auth import Identity, scope_for

T = TypeVar("T")


@st.cache_resource
def get_backends() -> backends.Backends:
    """The process's backends; on the embedded default also the in-process worker."""
    current = backends.current()
    if current.settings.redis_url is None:
        from visualizer_core.worker import EmbeddedWorker

        EmbeddedWorker(current, threads=current.settings.visualizer_workers).start()
    return current


def identity() -> Identity | None:
    value = st.session_state.get("auth.identity")
    return value if isinstance(value, Identity) else None


def scope() -> ClientScope:
    """The signed-in member's scope in the active client; stops the page if signed out."""
    who = identity()
    if who is None or not who.memberships:
        st.warning("Please sign in.")
        st.stop()
    assert who is not None
    client_id = st.session_state.get("auth.client_id") or who.memberships[0].client_id
    return scope_for(who, client_id)


def attempt(action: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
    """Run a service call; a deliberate error becomes a message on the page, never a traceback."""
    try:
        return action(*args, **kwargs)
    except VisualizerError as error:
        st.error(str(error))
        return None
