"""Match & generate: each product's scene (score, reason, override), the settings, the estimate,
and the button. Viewers see the matches but no button."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from streamlit_app.common import (
    BATCH,
    attempt,
    can,
    open_session,
    picked_products,
    plain,
    scope,
)
from visualizer_core.matching import placement_warning
from visualizer_core.schemas import ASPECT_RATIOS, FlowSettings
from visualizer_core.scope import Action
from visualizer_core.services import analysis, estimates, gallery, generation, models, products
from visualizer_core.taxonomy import ROOM_TYPES

AUTO = "auto"

member = scope()
editor = can(member, Action.EDIT)
may_generate = can(member, Action.GENERATE)
session = open_session(member, page="generate")
st.title("Match & generate")

notice = st.session_state.pop("generate.notice", None)
if notice:
    st.success(notice)

picked = picked_products()
catalog = attempt(products.list_products, member, product_ids=picked) or []
if not catalog:
    st.info("No products yet: import a catalog on the Products page.")
    st.stop()
st.caption(
    f"Session **{plain(session.name)}** · {len(catalog)} product(s)"
    + (" picked on the Products page" if picked else " (the whole catalog)")
    + f" · {len(session.scenes)} scene(s)"
)
if not session.scenes:
    st.warning("This session has no scenes: add some on the Inspiration page first.")

scenes = {s.id: s for s in session.scenes}


def _titles() -> dict[str, str]:
    """A short name per scene, from what it is ("Dining room, rustic"), numbered when alike;
    the file name stays for the tooltip and its own column."""
    titles: dict[str, str] = {}
    seen: dict[str, int] = {}
    for scene in scenes.values():
        room = scene.room or ""
        title = ROOM_TYPES.get(room, room) or "Any room"
        if scene.analysis and scene.analysis.style:
            title += f", {scene.analysis.style[0]}"
        seen[title] = seen.get(title, 0) + 1
        titles[scene.id] = title if seen[title] == 1 else f"{title} {seen[title]}"
    return titles


titles = _titles()


def scene_label(scene_id: str) -> str:
    if scene_id == AUTO:
        return "Automatic"
    return titles.get(scene_id, "(removed scene)")


def placement(product: products.ProductRead, scene_id: str | None) -> str | None:
    """ "Sofas in a kitchen: change the scene?" when the scene's room is not one of its rooms."""
    scene = scenes.get(scene_id or "")
    what = (product.category or "").split(">")[-1].strip() or product.name
    return placement_warning(what, product.rooms, scene.room if scene else None)


def duration(seconds: float) -> str:
    """A short human duration: "about 1 s", "40 s", "3 min 20 s", "2 h 5 min"."""
    whole = max(round(seconds), 1)
    if whole < 60:
        return f"about {whole} s" if whole < 5 else f"{whole} s"
    minutes, rest = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes} min {rest} s" if rest else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


# -- matching ----------------------------------------------------------------------------------

if editor and st.button(
    "Match products to scenes",
    key="generate.match",
    type="secondary" if session.matches else "primary",
    disabled=not session.scenes,
):
    with st.spinner("Analysing and matching…"):
        found = attempt(
            analysis.match_session,
            member,
            session_id=session.id,
            product_ids=[p.id for p in catalog],
        )
    if found is not None:
        st.session_state["generate.notice"] = f"Matched {len(found)} product(s)."
        st.rerun()

# Pictures by URL (the bucket's, presigned and cached, or a cached read): no query per row.
pictures = gallery.browser_urls(
    [p.thumbnail_keys[0] for p in catalog if p.thumbnail_keys]
    + [s.thumbnail_key or s.key for s in scenes.values()]
)


def scene_picture(scene_id: str | None) -> str | None:
    scene = scenes.get(scene_id or "")
    return pictures.get(scene.thumbnail_key or scene.key) if scene else None


def product_picture(product: products.ProductRead) -> str | None:
    return pictures.get(product.thumbnail_keys[0]) if product.thumbnail_keys else None


rows = []
for product in catalog:
    match = session.matches.get(str(product.id))
    scene = scenes.get(match.scene_id) if match else None
    rows.append(
        {
            "photo": product_picture(product),
            "in scene": scene_picture(match.scene_id if match else None),
            "sku": product.sku,
            "product": product.name,
            "scene": scene_label(match.scene_id) if match else "not matched yet",
            "score": round(match.score * 100) if match and match.score is not None else None,
            "reason": (match.reason or "") if match else "",
            "placement": (placement(product, match.scene_id) or "") if match else "",
            "by hand": bool(match and match.overridden),
            "needs a room": bool(match and match.needs_room),
            "file": (scene.filename or "") if scene else "",
        }
    )
homeless = [str(row["product"]) for row in rows if row["needs a room"]]
if homeless:
    st.warning(
        f"{len(homeless)} product(s) need a room: the catalog does not say what they are, so "
        "they got a neutral scene. Pick a scene for them below: "
        + ", ".join(homeless[:10])
        + ("…" if len(homeless) > 10 else "")
    )
st.dataframe(
    pd.DataFrame(rows),
    hide_index=True,
    width="stretch",
    key="generate.matches",
    column_order=[
        "photo",
        "in scene",
        "sku",
        "product",
        "scene",
        "score",
        "reason",
        "placement",
        "by hand",
        "needs a room",
        "file",
    ],
    column_config={
        "photo": st.column_config.ImageColumn("Product", width="small"),
        "in scene": st.column_config.ImageColumn("Scene", width="small"),
        "sku": st.column_config.TextColumn("SKU", width="small"),
        "scene": st.column_config.TextColumn("Scene name", width="small"),
        "score": st.column_config.ProgressColumn(
            "Score", min_value=0, max_value=100, format="%d", width="small"
        ),
        "reason": st.column_config.TextColumn("Reason", width="large"),
        "placement": st.column_config.TextColumn("Placement", width="medium"),
        "file": st.column_config.TextColumn("File", width="small", help="The scene's file name"),
    },
)

if editor and scenes:
    # Not an expander: it stayed open only until the next click (picking a product closed it).
    with st.container(border=True):
        st.markdown("**Change the scene of a product**")
        by_id = {p.id: p for p in catalog}
        product_id = st.selectbox(
            "Product",
            list(by_id),
            format_func=lambda pid: f"{by_id[pid].sku} · {by_id[pid].name}",
            key="generate.override_product",
        )
        in_use = session.matches.get(str(product_id))
        current = in_use.scene_id if in_use and in_use.overridden else AUTO
        product = by_id[product_id]
        choices = [AUTO, *scenes]
        columns = st.columns(5)
        for index, choice in enumerate(choices):
            with columns[index % 5]:
                picture = scene_picture(choice) if choice != AUTO else product_picture(product)
                if picture:
                    st.image(picture, width="stretch")
                label = scene_label(choice)
                warning = placement(product, choice) if choice != AUTO else None
                st.caption(
                    plain(label)
                    + (f" · {plain(scenes[choice].filename or '')}" if choice != AUTO else "")
                    + (" · :orange[not its room]" if warning else "")
                )
                if st.button(
                    "In use" if choice == current else "Use this",
                    key=f"generate.use.{choice}",
                    disabled=choice == current,
                    width="stretch",
                ) and (
                    attempt(
                        analysis.set_match,
                        member,
                        session_id=session.id,
                        product_id=product_id,
                        scene_id=None if choice == AUTO else choice,
                    )
                    is not None
                ):
                    st.session_state["generate.notice"] = (
                        f"Scene of {plain(product.sku)} set to {plain(label)}."
                    )
                    st.rerun()

# -- settings, estimate, button ----------------------------------------------------------------

st.subheader("Settings")
for line in attempt(models.model_warnings, member) or []:
    st.warning(line)
paused_account = attempt(models.account_pause, member)
if paused_account:
    st.error(
        f"Generation is paused until {paused_account['until']}: {paused_account['reason']}."
        " Images started now wait, pending, and resume by themselves."
    )
left, middle, right = st.columns(3)
aspect_ratio = left.selectbox("Aspect ratio", ASPECT_RATIOS, key="generate.aspect_ratio")
variants = int(
    middle.number_input(
        "Variants per product", min_value=1, max_value=8, value=1, key="generate.variants"
    )
)
size_prices = attempt(models.image_size_prices, member) or {}
image_size = right.selectbox(
    "Output size",
    list(size_prices) or ["1K"],
    key="generate.image_size",
    format_func=lambda size: (
        f"{size} · ${size_prices[size]:.3f} an image" if size_prices.get(size) else size
    ),
    help="Larger pictures cost more image tokens; only the sizes the model draws are offered.",
)
prompt = st.text_area(
    "Extra prompt text (optional)",
    max_chars=2000,
    key="generate.prompt",
    placeholder="e.g. soft morning light, a plant in the corner",
)
exact = st.selectbox(
    "Product pixels",
    ["As the client's setting", "Pixel-exact: composite the photo's own pixels", "As generated"],
    key="generate.keep_product_pixels",
    help="Pixel-exact puts the product photo's own pixels back where the product was found in"
    " each generated image (not where something covers it: the image then says why).",
)
keep_pixels = {"As generated": False}.get(exact, True if exact.startswith("Pixel") else None)
settings = attempt(
    FlowSettings,
    aspect_ratio=aspect_ratio,
    variants=variants,
    prompt=prompt,
    keep_product_pixels=keep_pixels,
    image_size=image_size if size_prices else None,
)
if settings is None:
    st.stop()
assert settings is not None

estimate = attempt(
    estimates.estimate_generation,
    member,
    client_id=member.client_id,
    products=len(catalog),
    settings=settings,
)
if estimate is not None:
    figures = st.columns(4)
    figures[0].metric("Images", estimate.images)
    figures[1].metric("Estimated cost", f"${estimate.cost_usd:,.2f}")
    figures[2].metric("Estimated time", duration(estimate.seconds))
    figures[3].metric("Quota left today", estimate.quota_left)
    if not estimate.within_quota:
        st.warning(
            f"This needs {estimate.images} images but only {estimate.quota_left} are left "
            "today: pick fewer products or variants."
        )

misplaced = [row for row in rows if row["placement"]]
if misplaced:
    st.warning(
        f"{len(misplaced)} product(s) are placed in a room they do not belong in: "
        + "; ".join(f"{row['sku']}: {row['placement']}" for row in misplaced[:8])
        + ("…" if len(misplaced) > 8 else "")
    )

if not may_generate:
    st.info("Viewers can look at the matches; an editor or owner starts the generation.")
else:
    if st.button(
        f"Generate {len(catalog) * variants} image(s)",
        key="generate.go",
        type="primary",
        disabled=not session.scenes,
    ):
        with st.spinner("Starting…"):
            flow = attempt(
                generation.generate,
                member,
                session_id=session.id,
                product_ids=[p.id for p in catalog],
                settings=settings,
            )
        if flow is not None:
            st.session_state[BATCH] = (session.id, flow.flow_id)  # its progress on Results
            st.session_state["results.notice"] = (
                f"Generation started: {len(flow.image_ids)} image(s) on their way."
            )
            st.switch_page("views/results.py")
