"""Settings of the active client, for its owners: members and roles, the webhook and its
delivery log, usage."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from streamlit_app.common import attempt, can, identity, plain, scope, succeeded
from visualizer_core import taxonomy
from visualizer_core.scope import Action, Role
from visualizer_core.services import budgets, clients, learning, notify

ROLES = [r.value for r in Role]
REMOVING = "settings.removing"  # the member whose removal waits for a yes
DROPPING = "settings.dropping_webhook"
FORGETTING = "settings.forgetting"  # the product kind (or everything) to forget, once confirmed


def room_label(room: str) -> str:
    return taxonomy.ROOM_TYPES.get(room, room.replace("_", " "))


def confirmed(key: str, question: str, yes: str) -> bool:
    """The second step of an action that cannot be taken back: ``question`` and two buttons;
    True once the owner clicked ``yes`` (the question is then closed), False while it is open.
    "Cancel" closes it with nothing changed."""
    st.warning(question, icon=":material/help:")
    left, right, _ = st.columns([2, 1, 4])
    if left.button(yes, key=f"{key}.yes", type="primary", width="stretch"):
        st.session_state.pop(key, None)
        return True
    if right.button("Cancel", key=f"{key}.no", width="stretch"):
        st.session_state.pop(key, None)
        st.rerun()
    return False


member = scope()
st.title("Settings")
if not can(member, Action.MANAGE):
    st.warning("Only the client's owners can change its settings.")
    st.stop()

client = attempt(clients.get_client, member, client_id=member.client_id)
if client is None:
    st.stop()
assert client is not None
st.caption(f"**{plain(client.name)}** · {client.plan} plan")

notice = st.session_state.pop("settings.notice", None)
if notice:
    st.success(notice)
invitation = st.session_state.pop("settings.invitation", None)  # its token is shown once
if invitation is not None and invitation.mailed:
    st.success(
        f"Invitation for {invitation.email} ({invitation.role.value}) sent by e-mail; it is "
        f"valid until {invitation.expires_at:%Y-%m-%d %H:%M} UTC."
    )
elif invitation is not None:
    st.success(
        f"Invitation for {invitation.email} ({invitation.role.value}) until "
        f"{invitation.expires_at:%Y-%m-%d %H:%M} UTC. Send them this link (shown once):"
    )
    base = (st.context.url or "").split("?", 1)[0].rsplit("/", 1)[0]
    st.code(invitation.link_for(base) or "", language=None)
    st.caption(
        "Mail is not set up here, so you hand the link over yourself; an account made from it "
        "counts as unverified until its owner proves the address."
    )

# -- usage -------------------------------------------------------------------------------------

st.subheader("Usage")
usage = attempt(clients.client_usage, member, client_id=member.client_id, days=30)
if usage is not None:
    quota = usage.daily_quota
    share = usage.used_today / quota if quota else 1.0
    st.progress(min(share, 1.0), text=f"Today: {usage.used_today} of {quota} images used (UTC day)")
    left = max(quota - usage.used_today, 0)
    st.caption(f"{left} image(s) left today. An admin can change the daily quota.")
    budget = attempt(budgets.monthly_budget, member, client_id=member.client_id)
    if budget is not None and budget.monthly_budget_usd is not None:
        cap = budget.monthly_budget_usd
        st.progress(
            min(budget.spent_usd / cap, 1.0) if cap else 1.0,
            text=f"{budget.month}: USD {budget.spent_usd:,.2f} of the monthly budget of"
            f" USD {cap:,.2f} spent",
        )
        queued = (
            f" (after USD {budget.queued_usd:,.2f} held for the images still queued)"
            if budget.queued_usd > 0
            else ""
        )
        st.caption(
            f"USD {budget.left_usd or 0.0:,.2f} left this month{queued}; a generation the budget"
            f" cannot take is refused. It renews on {budget.resets_at:%Y-%m-%d} (UTC); an admin"
            " can change it."
        )
    figures = st.columns(3)
    figures[0].metric("Images, last 30 days", usage.images)
    figures[1].metric("Completed", sum(d.completed for d in usage.days))
    figures[2].metric(
        "Image cost, last 30 days",
        f"${usage.cost_usd:,.2f}",
        help="The provider calls of these images; the Usage page has all spend, analysis"
        " included, and the cost per approved image.",
    )
    if usage.days:
        st.bar_chart(
            pd.DataFrame(
                [{"day": d.day, "completed": d.completed, "failed": d.failed} for d in usage.days]
            ).set_index("day"),
            height=180,
        )

# -- the fidelity gate -------------------------------------------------------------------------

st.subheader("Fidelity gate")
fidelity_gate = attempt(clients.fidelity_gate, member, client_id=member.client_id)
if fidelity_gate is not None:
    st.caption(f"{plain(fidelity_gate.description)}.")

    def set_auto_approve() -> None:
        value = bool(st.session_state["settings.auto_approve"])
        if attempt(clients.set_auto_approve, member, client_id=member.client_id, enabled=value):
            st.session_state["settings.notice"] = "New images the gate trusts are approved by rule."
        elif value is False:
            st.session_state["settings.notice"] = "Auto-approve is off: people decide every image."

    def set_pixels() -> None:
        value = bool(st.session_state["settings.keep_product_pixels"])
        attempt(clients.set_keep_product_pixels, member, client_id=member.client_id, enabled=value)

    st.toggle(
        "Auto-approve new images the gate trusts (approved by rule, a share spot-checked)",
        value=fidelity_gate.auto_approve,
        key="settings.auto_approve",
        on_change=set_auto_approve,
    )
    st.toggle(
        "Pixel-exact: composite the product photo's own pixels back into generated images",
        value=fidelity_gate.keep_product_pixels,
        key="settings.keep_product_pixels",
        on_change=set_pixels,
        help="Where the product is found and nothing covers it; a flow can set its own.",
    )
    st.caption(
        f"Gemini's paid judgement: {plain(fidelity_gate.fidelity_check)} "
        "(uncertain: only the images whose score is near the threshold)."
    )

# -- members -----------------------------------------------------------------------------------

st.subheader("Members")
members = attempt(clients.list_members, member, client_id=member.client_id) or []
me = identity()
if members:
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "email": m.email,
                    "name": m.name or "",
                    "role": m.role.value,
                    "status": m.status,
                    "invitation expires": m.invite_expires_at,
                }
                for m in members
            ]
        ),
        hide_index=True,
        width="stretch",
        key="settings.members",
    )
    by_id = {m.user_id: m for m in members}
    ids = list(by_id)

    def current_role() -> None:
        """The role picker starts from the picked member's role: one click changes nothing."""
        picked = by_id[st.session_state["settings.member"]]
        st.session_state["settings.member_role"] = picked.role.value

    if st.session_state.get("settings.member") not in by_id:
        st.session_state["settings.member"] = ids[0]
        st.session_state.pop("settings.member_role", None)
    if "settings.member_role" not in st.session_state:
        current_role()
    columns = st.columns([3, 2, 1, 1], vertical_alignment="bottom")
    who = columns[0].selectbox(
        "Member",
        ids,
        format_func=lambda uid: f"{by_id[uid].email} ({by_id[uid].role.value})",
        key="settings.member",
        on_change=current_role,
    )
    role = columns[1].selectbox("Role", ROLES, key="settings.member_role")
    change = columns[2].button(
        "Set role", key="settings.set_role", disabled=role == by_id[who].role.value
    )
    remove = columns[3].button("Remove", key="settings.remove")
    if change and (
        attempt(clients.set_role, member, client_id=member.client_id, user_id=who, role=role)
        is not None
    ):
        st.session_state["settings.notice"] = f"{by_id[who].email} is now {role}."
        st.session_state.pop("settings.member_role")  # it starts again from the new role
        st.rerun()
    if remove:
        if me is not None and who == me.user_id:
            st.error("You cannot remove yourself here: ask another owner.")
        else:  # asked first: a removal cannot be taken back (only a new invitation)
            st.session_state[REMOVING] = who
    removing = st.session_state.get(REMOVING)
    if removing is not None and removing not in by_id:
        st.session_state.pop(REMOVING)
    elif removing is not None:
        leaving = by_id[removing]
        if confirmed(
            REMOVING,
            f"Remove {plain(leaving.email)} ({leaving.role.value}) from {plain(client.name)}? "
            "They lose access at once; only a new invitation brings them back.",
            "Yes, remove",
        ) and succeeded(
            clients.remove_member, member, client_id=member.client_id, user_id=removing
        ):
            st.session_state["settings.notice"] = f"{leaving.email} removed."
            st.rerun()

with st.form("settings.invite", clear_on_submit=True):
    st.markdown("**Invite someone**")
    columns = st.columns([3, 2, 1], vertical_alignment="bottom")
    email = columns[0].text_input("Email", key="settings.invite_email")
    invite_role = columns[1].selectbox("Role", ROLES, index=1, key="settings.invite_role")
    invited = columns[2].form_submit_button("Invite")
if invited:
    invitation = attempt(
        clients.invite_member,
        member,
        client_id=member.client_id,
        email=email,
        role=invite_role,
    )
    if invitation is not None:
        st.session_state["settings.invitation"] = invitation
        st.rerun()

# -- webhook -----------------------------------------------------------------------------------

st.subheader("Webhook")
st.caption(
    "Called with a signed POST when a session's generation finishes. The secret is shown "
    "once, to give to the receiver."
)
hook = attempt(clients.webhook_settings, member, client_id=member.client_id) or {}
current_url = hook.get("url")
if current_url:
    st.caption(f"Now: `{current_url}`")
with st.form("settings.webhook"):
    url = st.text_input("URL", value=current_url or "", key="settings.webhook_url")
    halves = st.columns(2)
    save = halves[0].form_submit_button("Save webhook")
    drop = halves[1].form_submit_button("Remove webhook")
if save:
    saved = attempt(
        clients.set_webhook, member, client_id=member.client_id, url=url.strip() or None
    )
    if saved is not None and saved["url"]:
        st.success(f"Webhook set to {saved['url']}. Its signing secret:")
        st.code(saved["secret"] or "", language=None)
if drop and current_url:
    st.session_state[DROPPING] = True
if (
    st.session_state.get(DROPPING)
    and confirmed(
        DROPPING,
        f"Remove the webhook {plain(current_url or '')}? Its receiver is no longer called, and a "
        "new one gets a new secret.",
        "Yes, remove the webhook",
    )
    and (attempt(clients.set_webhook, member, client_id=member.client_id, url=None) is not None)
):
    st.session_state["settings.notice"] = "Webhook removed."
    st.rerun()

st.markdown("**Recent deliveries**")
log = attempt(notify.delivery_log, member, client_id=member.client_id)
if log:
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "when": d.at,
                    "flow": d.flow_name or str(d.flow_id)[:8],
                    "event": d.event,
                    "host": d.host,
                    "result": "delivered" if d.delivered else "failed",
                    "status": d.status_code,
                    "error": d.error or "",
                    "attempts": d.attempts,
                    "duration (s)": None if d.duration_ms is None else d.duration_ms / 1000,
                }
                for d in log
            ]
        ),
        hide_index=True,
        width="stretch",
        key="settings.webhook_log",
    )
    st.caption(
        f"The last {len(log)} deliveries, newest first (at most "
        f"{notify.DELIVERY_LOG_LENGTH}); times in UTC. Status is the receiver's"
        " last answer; attempts count the retries of 5xx, 429 and network errors too."
    )
elif log is not None:
    st.caption("No deliveries yet: one is made when a session's generation finishes.")

# -- what matching learned -----------------------------------------------------------------------

st.subheader("What matching learned")
st.caption(
    "Scenes your team sets by hand and images it approves (or rejects as the wrong room) teach "
    "matching where each kind of product goes. Two placements agreeing make a room the first "
    "choice for that kind in every session; forgetting returns it to the analysis's rooms."
)
lessons = attempt(learning.taught_rooms, member, client_id=member.client_id) or []
if not lessons:
    st.caption("Nothing learned yet.")
else:
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "product kind": lesson["label"],
                    "room": room_label(lesson["room"]) if lesson["room"] else "not decided yet",
                    "placed": ", ".join(
                        f"{room_label(r)} {n}" for r, n in sorted(lesson["placed"].items())
                    ),
                    "refused": ", ".join(
                        f"{room_label(r)} {n}" for r, n in sorted(lesson["refused"].items())
                    ),
                }
                for lesson in lessons
            ]
        ),
        hide_index=True,
        key="settings.taught",
    )
    with st.form("settings.forget"):
        kinds = {lesson["label"]: lesson["category"] for lesson in lessons}
        picked = st.selectbox("Forget", ["everything", *kinds], key="settings.forget_kind")
        forget = st.form_submit_button("Forget what was learned")
    if forget:
        st.session_state[FORGETTING] = picked
    forgetting = st.session_state.get(FORGETTING)
    if forgetting is not None and forgetting != "everything" and forgetting not in kinds:
        st.session_state.pop(FORGETTING)
    elif forgetting is not None and confirmed(
        FORGETTING,
        f"Forget what matching learned about {plain(forgetting)}? The team's placements "
        "then teach it again from the start.",
        "Yes, forget",
    ):
        category = None if forgetting == "everything" else kinds[forgetting]
        gone = attempt(
            learning.forget_taught_rooms, member, client_id=member.client_id, category=category
        )
        if gone is not None:
            st.session_state["settings.notice"] = f"Matching forgot {gone} product kind(s)."
            st.rerun()
