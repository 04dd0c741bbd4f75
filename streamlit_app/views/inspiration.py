"""Inspiration: the open session's scenes, from uploads, Unsplash search and earlier generations."""

from __future__ import annotations

from typing import Any

import streamlit as st

from streamlit_app.common import attempt, can, markdown_link, open_session, plain, scope, succeeded
from visualizer_core.errors import VisualizerError
from visualizer_core.inspiration import COLORS, ORIENTATIONS, InspirationPhoto
from visualizer_core.scope import Action
from visualizer_core.services import gallery, inspiration, previews, sessions
from visualizer_core.taxonomy import ROOM_TYPES, room_in_file_name

PHOTO_TYPES = ["jpg", "jpeg", "png", "webp"]
FROM_NAME = "from-name"
ROOM_CHOICES = {
    FROM_NAME: "From each file name (e.g. bedroom-2.jpg), else the analysis decides",
    "": "Let the analysis decide",
}
COLUMNS = 4
SEARCH_PAGE = 12

member = scope()
editor = can(member, Action.EDIT)
session = open_session(member, page="inspiration")
st.title("Inspiration")
st.caption(
    f"Scenes of **{plain(session.name)}**: each product is matched to the one that fits it best."
)


def _room_label(room: str | None) -> str:
    return ROOM_TYPES.get(room or "", room or "any room")


def credit_line(attribution: dict[str, Any] | None) -> str:
    """The credit a picture must carry: Unsplash's photographer and link, or its origin.

    Every part comes from a third party or a person (a photographer's name and links from
    Unsplash, a product's name on an earlier generation): escaped, links only to http(s)."""
    if not attribution:
        return ""
    if attribution.get("provider") == "unsplash":
        name = attribution.get("photographer") or "an Unsplash photographer"
        who = markdown_link(name, attribution.get("photographer_url"))
        where = attribution.get("unsplash_url") or "https://unsplash.com/"
        return f"Photo by {who} on {markdown_link('Unsplash', where)}"
    return plain(attribution.get("text") or "")


def show_scenes() -> None:
    """The session's scenes as a grid of thumbnails with what the analysis saw."""
    scenes = session.scenes
    if not scenes:
        st.info("No scenes yet: upload some, or pick earlier generations below.")
        return
    st.subheader(f"Scenes in this session ({len(scenes)})")
    # By URL (the bucket's, presigned and cached, or a cached read): no storage read per rerun.
    pictures = gallery.browser_urls(s.thumbnail_key or s.key for s in scenes)
    columns = st.columns(COLUMNS)
    for index, scene in enumerate(scenes):
        with columns[index % COLUMNS]:
            picture = pictures.get(scene.thumbnail_key or scene.key)
            found = scene.analysis
            caption = f"{plain(scene.filename or scene.id[:8])} · {_room_label(scene.room)}"
            if found:
                caption += f" · {', '.join(found.style[:2]) or found.lighting}"
            if picture is not None:
                st.image(picture, caption=caption)
            credit = credit_line(scene.attribution)
            if credit:
                st.caption(credit)
            if editor:
                fix_scene(scene)


ANALYSED = ""  # the room choice that leaves it to the analysis


def fix_scene(scene: Any) -> None:
    """Set or correct the scene's room (the analysis never overrides it), or delete it."""
    key = f"inspiration.scene_room.{scene.id}"
    choices = [ANALYSED, *ROOM_TYPES]

    def set_room() -> None:
        chosen = st.session_state[key] or None
        if attempt(
            sessions.set_scene_room,
            member,
            session_id=session.id,
            scene_id=scene.id,
            room_type=chosen,
        ):
            st.session_state["inspiration.notice"] = (
                f"{scene.filename or 'The scene'}: room set to {_room_label(chosen)}."
                if chosen
                else f"{scene.filename or 'The scene'}: the analysis decides its room."
            )

    left, right = st.columns([3, 1], vertical_alignment="bottom")
    left.selectbox(
        "Room",
        choices,
        index=choices.index(scene.room_type) if scene.room_type in choices else 0,
        format_func=lambda r: ROOM_TYPES.get(r) or "As analysed",
        key=key,
        on_change=set_room,
        help="The room a person sets is kept: the analysis never overrides it.",
    )
    if right.button("Delete", key=f"inspiration.delete.{scene.id}", icon=":material/delete:"):
        deleted = succeeded(sessions.delete_scene, member, session_id=session.id, scene_id=scene.id)
        if not deleted:
            return
        st.session_state["inspiration.notice"] = f"{scene.filename or 'The scene'} deleted."
        st.rerun()


def upload_scenes() -> None:
    """Upload scene photos; their room type is chosen, read from each file name, or analysed."""
    with st.form("inspiration.upload", clear_on_submit=True):
        files = st.file_uploader(
            "Scene photos", type=PHOTO_TYPES, accept_multiple_files=True, key="inspiration.files"
        )
        rooms = [FROM_NAME, "", *ROOM_TYPES]
        room = st.selectbox(
            "Room type",
            rooms,
            format_func=lambda r: ROOM_CHOICES.get(r) or _room_label(r),
            key="inspiration.room",
        )
        if st.form_submit_button("Add scenes", type="primary"):
            if not files:
                st.error("Choose at least one photo.")
                return
            groups: dict[str | None, list[tuple[str, bytes]]] = {}
            for upload in files:
                chosen = room_in_file_name(upload.name) if room == FROM_NAME else room or None
                groups.setdefault(chosen, []).append((upload.name, upload.getvalue()))
            added, failed = 0, []
            for group_room, group in groups.items():
                result = attempt(
                    sessions.add_scenes,
                    member,
                    session_id=session.id,
                    files=group,
                    room_type=group_room,
                )
                if result is not None:
                    added += len(result.scene_ids)
                    failed += result.failed
            st.session_state["inspiration.added"] = added
            st.session_state["inspiration.failed"] = failed
            st.rerun()


def result_picture(photo: InspirationPhoto) -> bytes | str | None:
    """What to show for a search result: Unsplash's hotlinked thumbnail, or our own picture."""
    if photo.thumb_url:
        return photo.thumb_url
    if photo.source == "session":
        return attempt(
            previews.scene_picture,
            member,
            session_id=photo.ref["session_id"],
            scene_id=photo.ref["scene_id"],
        )
    if photo.source == "generation":
        return attempt(gallery.image_bytes, member, image_id=photo.ref["image_id"])
    return None


def search() -> None:
    """Search Unsplash (with a key) or the client's own library, and use the chosen photos."""
    with st.form("inspiration.search"):
        left, middle, right = st.columns([4, 2, 2], vertical_alignment="bottom")
        query = left.text_input(
            "Search photos", key="inspiration.query", placeholder="bright oak kitchen"
        )
        orientation = middle.selectbox(
            "Orientation", ["any", *ORIENTATIONS], key="inspiration.orientation"
        )
        color = right.selectbox("Colour", ["any", *COLORS], key="inspiration.color")
        go = st.form_submit_button("Search")
    if go:
        st.session_state["inspiration.search_page"] = 1
        st.session_state["inspiration.search_args"] = {
            "query": query.strip(),
            "orientation": None if orientation == "any" else orientation,
            "color": None if color == "any" else color,
        }
    arguments = st.session_state.get("inspiration.search_args")
    if arguments is None:
        st.caption(
            "Search Unsplash's photos."
            if inspiration.unsplash_configured()
            else "Search your own scenes, earlier generations and Visualizer's drawn rooms "
            "(Unsplash needs UNSPLASH_ACCESS_KEY)."
        )
        return
    found = attempt(
        inspiration.search_inspiration,
        member,
        client_id=member.client_id,
        page=int(st.session_state.get("inspiration.search_page", 1)),
        per_page=SEARCH_PAGE,
        **arguments,
    )
    if found is None:
        return
    if found.notice:
        st.info(found.notice)
    if found.quota_low:
        st.warning(
            f"Unsplash: {found.rate_limit_remaining} of {found.rate_limit or '?'} requests left"
            " this hour. Searches already made stay available for an hour; each new search,"
            " page or photo used takes one."
        )
    if not found.photos:
        st.caption("Nothing found: try other words.")
        return
    st.caption(f"{found.total} photo(s) · page {found.page} of {max(found.total_pages, 1)}")
    columns = st.columns(COLUMNS)
    chosen: list[InspirationPhoto] = []
    for index, photo in enumerate(found.photos):
        with columns[index % COLUMNS], st.container(border=True):
            picture = result_picture(photo)
            if picture is not None:
                st.image(picture)
            st.markdown(plain(photo.description or photo.id))
            credit = credit_line(photo.attribution)
            if credit:
                st.caption(credit)
            if st.checkbox("Use", key=f"inspiration.use.{photo.id}"):
                chosen.append(photo)
    pager = st.columns([1, 1, 4])
    if pager[0].button("← Previous", key="inspiration.search_prev", disabled=found.page <= 1):
        st.session_state["inspiration.search_page"] = found.page - 1
        st.rerun()
    if pager[1].button(
        "Next →", key="inspiration.search_next", disabled=found.page >= found.total_pages
    ):
        st.session_state["inspiration.search_page"] = found.page + 1
        st.rerun()
    if st.button(
        f"Add {len(chosen)} photo(s) as scenes",
        key="inspiration.use_chosen",
        type="primary",
        disabled=not chosen,
    ):
        with st.spinner("Adding…"):
            result = attempt(
                inspiration.add_inspiration, member, session_id=session.id, photos=chosen
            )
        if result is not None:
            st.session_state["inspiration.added"] = len(result.scene_ids)
            st.session_state["inspiration.failed"] = result.failed
            st.rerun()


def earlier_generations() -> None:
    """Completed images of any of the client's sessions, to reuse as scenes."""
    rows = attempt(sessions.list_sessions, member) or []
    if not rows:
        return
    names = {row.id: row.name for row in rows}
    source = st.selectbox(
        "From session", list(names), format_func=names.__getitem__, key="inspiration.from"
    )
    page = attempt(
        gallery.list_images,
        member,
        session_id=source,
        status=["completed"],
        page_size=12,
        order="newest",
    )
    if page is None or not page.cards:
        st.caption("No completed images in that session yet.")
        return
    columns = st.columns(COLUMNS)
    chosen = []
    for index, card in enumerate(page.cards):
        with columns[index % COLUMNS]:
            if card.thumbnail_url:
                st.image(card.thumbnail_url, caption=f"{plain(card.sku)} · v{card.variant + 1}")
            if editor and st.checkbox("Use", key=f"inspiration.reuse.{card.id}"):
                chosen.append(card)
    if editor and st.button(
        f"Add {len(chosen)} as scene(s)", key="inspiration.reuse", disabled=not chosen
    ):
        added, failed = 0, []
        for card in chosen:
            try:
                inspiration.generation_as_scene(member, image_id=card.id, session_id=session.id)
                added += 1
            except VisualizerError as error:  # shown after the rerun, with the others
                failed.append({"file": f"{card.sku} v{card.variant + 1}", "error": str(error)})
        st.session_state["inspiration.added"] = added
        st.session_state["inspiration.failed"] = failed
        st.rerun()


added = st.session_state.pop("inspiration.added", None)
if added is not None:
    st.success(f"{added} scene(s) added.")
for failure in st.session_state.pop("inspiration.failed", None) or []:
    message = str(failure["error"])
    named = message.startswith(f"{failure['file']}:")
    st.error(message if named else f"{failure['file']}: {message}")

notice = st.session_state.pop("inspiration.notice", None)
if notice:
    st.success(plain(notice))

if editor:
    # A remembered choice rather than tabs: after a search the page stays on its results (tabs
    # went back to the first one on every rerun).
    source = st.segmented_control(
        "Add scenes from",
        ["Upload", "Search", "Earlier generations"],
        default="Upload",
        key="inspiration.source",
        label_visibility="collapsed",
    )
    if source == "Search":
        search()
    elif source == "Earlier generations":
        earlier_generations()
    else:
        upload_scenes()
show_scenes()
