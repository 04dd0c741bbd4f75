"""Steps on a user's account that both signing in (:mod:`.auth`) and the admin's user
management (:mod:`.clients`) take: replacing a password, and the take-back of an unverified
account from whoever claimed it through a copied invitation link.

Each takes the open database session of the caller's unit of work, after the caller's own
checks; none is a service of its own.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from visualizer_core.db import repo
from visualizer_core.db.models import User
from visualizer_core.security import hash_password

__all__ = ["replace_password", "take_back", "take_back_notice"]


def replace_password(user: User, password: str | None) -> None:
    """Set (or with None, remove) the password; every login session of the user ends."""
    user.password_hash = None if password is None else hash_password(password)
    user.session_version += 1
    user.failed_logins = 0
    user.locked_until = None
    user.reset_token_hash = None
    user.reset_expires_at = None


def take_back(db: Session, user: User) -> list[str]:
    """The person who controls the address takes an unverified account back from its claimer.

    Whoever set the password of an unverified account may be someone who held a copied
    invitation link, not the person. Their password goes (ending every session), and so does
    everything they could have accepted with it: every membership accepted through a link that
    was not mailed (a mailed one was accepted from the mailbox, or would have verified the
    account), and the active client. Invitations not yet accepted stay for the person to accept.
    The account counts as verified from now on. Returns the names of the clients whose
    memberships were dropped, sorted (empty for a verified account, or one nobody claimed).
    """
    if user.email_verified:
        return []
    user.email_verified = True
    if user.password_hash is None:
        return []  # nobody chose a password: nobody could have accepted anything
    dropped = []
    for member, client in repo.memberships(db, user.id):
        if not member.invite_mailed:
            dropped.append(client.name)
            repo.remove_member(db, member)
    replace_password(user, None)
    user.active_client_id = None
    db.flush()
    return sorted(dropped)


def take_back_notice(dropped: list[str]) -> str | None:
    """The sentence that tells the person what a take-back dropped, or None."""
    if not dropped:
        return None
    return (
        "your address was confirmed just now; before that, someone who held a copied "
        "invitation link could have accepted in your name, so these memberships were removed: "
        f"{', '.join(dropped)}. Ask an owner there to invite you again if you want them"
    )
