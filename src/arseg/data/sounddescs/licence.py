"""The BBC RemArc licence gate: no audio is downloaded unless the user accepted it."""
from __future__ import annotations

LICENCE_KEY = "corpus.sounddescs.accept_licence"
LICENCE_URL = "https://sound-effects.bbcrewind.co.uk/licensing"


class LicenceNotAcceptedError(PermissionError):
    """Raised when SoundDescs audio would be downloaded without licence acceptance."""


def require_licence(accept_licence: object) -> None:
    """Raise unless `accept_licence` is exactly True (a string like "false" is not acceptance)."""
    if accept_licence is not True:
        raise LicenceNotAcceptedError(
            "SoundDescs audio comes from the BBC Sound Effects archive under the BBC RemArc "
            f"Licence ({LICENCE_URL}), which allows non-commercial use only. "
            f"Refusing to download: to accept the licence set `{LICENCE_KEY}: true` "
            f"in the config (got {accept_licence!r})."
        )
