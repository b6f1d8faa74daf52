"""Identity verification of the customer the website says is chatting, the way Intercom
does it: the site's server signs the customer's id with a secret it shares with Parley
(PARLEY_IDENTITY_SECRET), the page passes id and signature to the widget, and the packet
shows the customer's details as verified only when the signature matches. Anything else
from the browser (name, email) can be typed by anyone and is shown as unverified."""

from __future__ import annotations

import hashlib
import hmac


def sign_customer_id(secret: str, customer_id: str) -> str:
    """What the site's server computes: hex HMAC-SHA256 of the customer id."""
    return hmac.new(secret.encode(), customer_id.encode(), hashlib.sha256).hexdigest()


def is_verified(secret: str, customer_id: str, signature: str) -> bool:
    if not (secret and customer_id and signature):
        return False
    expected = sign_customer_id(secret, customer_id)
    return hmac.compare_digest(expected, signature.strip().lower())
