"""Auth: API keys, Advanced Trade JWTs, Exchange/Prime HMAC signers, the signer factory and the
system clock with its correctable offset. Pure: keys, jwt, hmac_sign, signing.
"""

__all__: list[str] = []
