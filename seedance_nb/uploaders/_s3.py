"""An S3-compatible uploader: each file stored once under its content hash, handed out as a
presigned GET link that expires.

Works with AWS S3, Cloudflare R2 (``endpoint_url="https://<account>.r2.cloudflarestorage.com",
region="auto"``), MinIO (``endpoint_url="http://host:9000"``, path-style) and Google Cloud
Storage's S3 interface (``endpoint_url="https://storage.googleapis.com"`` with HMAC keys).
Credentials come from the arguments or boto3's usual chain (environment, profile, role); they
are never shown in a repr or an error.
"""

from __future__ import annotations

import hashlib
import mimetypes
import os
from pathlib import Path
from typing import Any

from ..api import SeedanceError, ValidationError

MAX_EXPIRY = 7 * 24 * 3600  # SigV4 presigned links live at most a week


class UploadError(SeedanceError):
    """An upload (or the link to it) failed; the message names the bucket, never a secret."""


class S3Uploader:
    """Upload a local file to a bucket and return a presigned GET link to it.

    `expires` is how long each link works, in seconds (at most a week); give the API enough
    time to fetch it (a queued task may wait a while). Files are keyed by their content, so
    the same frame uploaded twice is stored once.
    """

    def __init__(
        self,
        bucket: str,
        *,
        prefix: str = "seedance-uploads/",
        expires: int = 3600,
        endpoint_url: str | None = None,
        region: str | None = None,
        access_key: str | None = None,
        secret_key: str | None = None,
        session_token: str | None = None,
        path_style: bool | None = None,
    ) -> None:
        if not isinstance(bucket, str) or not bucket.strip():
            raise ValidationError("bucket", "must be a bucket name")
        if (
            isinstance(expires, bool)
            or not isinstance(expires, int)
            or not (1 <= expires <= MAX_EXPIRY)
        ):
            raise ValidationError("expires", f"must be 1 to {MAX_EXPIRY} seconds; got {expires!r}")
        self.bucket = bucket.strip()
        self.prefix = prefix
        self.expires = expires
        self.endpoint_url = endpoint_url
        self.region = region
        self._secrets = [s for s in (access_key, secret_key, session_token) if s]
        try:
            import boto3
            from botocore.config import Config
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise ImportError('S3Uploader needs boto3: pip install "seedance-nb[s3]"') from exc
        style = "path" if path_style else ("virtual" if path_style is False else "auto")
        self._client = boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=region,
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            aws_session_token=session_token,
            config=Config(signature_version="s3v4", s3={"addressing_style": style}),
        )

    def __repr__(self) -> str:
        where = f", endpoint_url={self.endpoint_url!r}" if self.endpoint_url else ""
        return f"S3Uploader(bucket={self.bucket!r}{where}, expires={self.expires})"

    def key_for(self, path: Path) -> str:
        """The object key a file is stored under: the prefix, its sha256 and its suffix."""
        digest = hashlib.sha256()
        with Path(path).open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        return f"{self.prefix}{digest.hexdigest()[:40]}{Path(path).suffix.lower()[:8]}"

    def __call__(self, path: str | os.PathLike[str]) -> str:
        """Upload `path` (once per content) and return a presigned link that expires."""
        path = Path(path)
        try:
            key = self.key_for(path)
        except OSError as exc:
            raise UploadError(f"{path.name!r} cannot be read ({exc.strerror})") from None
        try:
            if not self._exists(key):
                kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
                with path.open("rb") as fh:
                    self._client.put_object(Bucket=self.bucket, Key=key, Body=fh, ContentType=kind)
            return str(
                self._client.generate_presigned_url(
                    "get_object",
                    Params={"Bucket": self.bucket, "Key": key},
                    ExpiresIn=self.expires,
                )
            )
        except UploadError:
            raise
        except Exception as exc:  # botocore's many kinds: one clear error without secrets
            raise UploadError(
                f"could not upload {path.name!r} to bucket {self.bucket!r}: {self._clean(str(exc))}"
            ) from None

    def _exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self._client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def _clean(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def __getstate__(self) -> dict[str, Any]:
        raise TypeError("an S3Uploader holds credentials and is not pickled")
