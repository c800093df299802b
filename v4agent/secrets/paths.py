"""Files that are secrets by their name alone (``.env*``, private keys, credential stores): never read."""

from __future__ import annotations

import re

__all__ = ["is_secret_path"]

_SECRET_NAMES = frozenset(
    {
        "id_rsa", "id_dsa", "id_ecdsa", "id_ed25519", "id_ecdsa_sk", "id_ed25519_sk", "identity",
        "credentials.json", "client_secret.json", "service-account.json", "service_account.json",
        ".pypirc", ".netrc", "_netrc", ".git-credentials", ".htpasswd", ".pgpass", ".dockercfg",
        "secrets.json", "secrets.yml", "secrets.yaml", "secrets.toml", "master.key", "credentials.yml.enc",
        "terraform.tfstate", "terraform.tfstate.backup", ".vault-token", "keystore.jks",
    }
)  # fmt: skip
_SECRET_SUFFIXES = (
    ".pem", ".key", ".p12", ".pfx", ".jks", ".keystore", ".ppk", ".asc", ".gpg", ".kdbx", ".p8",
    ".der", ".crt.key", ".ovpn", ".tfstate",
)  # fmt: skip
# Directory/name pairs: the file name alone is too common to be a secret.
_SECRET_TAILS = ((".aws", "credentials"), (".aws", "config"), (".docker", "config.json"), (".kube", "config"),
                 (".ssh", "config"), ("gcloud", "credentials.db"))  # fmt: skip

_SECRET_NAME_PATTERN = re.compile(
    r"id_(rsa|dsa|ecdsa|ed25519)(_\w+)?|credentials(\.(json|ya?ml|xml|ini|toml|csv|txt|db|conf))?"
    r"|(client_secret|service[-_]account)[-_\w.]*\.json"
)


def is_secret_path(rel_path: str) -> bool:
    """True when a file is a secret by its name: it is skipped without reading it."""
    parts = rel_path.replace("\\", "/").split("/")
    name = parts[-1]
    lower = name.lower()
    if lower == ".env" or lower.startswith(".env.") or lower.endswith(".env"):
        return True
    if lower in _SECRET_NAMES or lower.endswith(_SECRET_SUFFIXES):
        return True
    if _SECRET_NAME_PATTERN.fullmatch(lower):
        return True
    return len(parts) >= 2 and (parts[-2].lower(), lower) in _SECRET_TAILS
