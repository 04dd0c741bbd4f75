"""A thin Unsplash API client on httpx: the two calls the product needs, and the photo itself.

- ``GET /search/photos`` (query, page, per_page, orientation, color): a :class:`SearchPage`
  whose photos carry their BlurHash and the photographer's attribution, with Unsplash's
  referral parameters (``utm_source=visualizer&utm_medium=referral``) on every link back.
- ``GET {download_location}``: Unsplash's download tracking, which its API guidelines require
  when a photo is *used* (here: made a scene). Its answer holds the URL to fetch the photo from.

Authentication is the ``Authorization: Client-ID <access key>`` header, sent to the API only:
the photo itself comes from Unsplash's image host through a second client that carries no
key. Every API answer's ``X-Ratelimit-Limit`` and ``X-Ratelimit-Remaining`` are read and kept
(:attr:`UnsplashClient.quota`, and in the cache for other processes). With a ``cache``, a
search page is asked for once an hour (:mod:`.cache`): a page rerun does not spend a request.
Failures become
:mod:`visualizer_core.errors`: a spent rate limit (403 with the plain-text body "Rate Limit
Exceeded", or 429) is :class:`~visualizer_core.errors.RateLimited` with a sentence saying when
to try again; a bad key is permanent; 5xx and timeouts are transient.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any, Final
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx

from visualizer_core.errors import (
    ConfigError,
    InvalidInput,
    PermanentProviderError,
    ProviderError,
    RateLimited,
    TransientProviderError,
)
from visualizer_core.inspiration import (
    COLORS,
    ORIENTATIONS,
    InspirationPhoto,
    SearchPage,
)
from visualizer_core.inspiration.cache import SEARCH_TTL_S, AnswerCache, search_key

__all__ = ["APP_NAME", "DEFAULT_API_URL", "Quota", "UnsplashClient", "referral"]

DEFAULT_API_URL: Final = "https://api.unsplash.com"
APP_NAME: Final = "visualizer"
"""The ``utm_source`` of referral links: the application's name as registered with Unsplash."""
MAX_PER_PAGE: Final = 30  # Unsplash's own limit
DOWNLOAD_WIDTH: Final = 2400  # px: plenty for a scene, a fraction of a full-size original
MAX_PHOTO_BYTES: Final = 40 * 1024 * 1024
_USER_AGENT: Final = f"{APP_NAME} (+httpx)"


_QUOTA_KEY: Final = "ratelimit"


@dataclasses.dataclass(frozen=True)
class Quota:
    """Unsplash's rate limit as its last answer told: requests an hour, and those left."""

    limit: int | None
    remaining: int | None
    at: float  # time.time() of that answer


def referral(url: str) -> str:
    """``url`` with Unsplash's referral parameters, as its attribution guidelines ask."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k not in ("utm_source", "utm_medium")]
    query += [("utm_source", APP_NAME), ("utm_medium", "referral")]
    return urlunsplit(parts._replace(query=urlencode(query)))


class UnsplashClient:
    """Search, download tracking and photo bytes. Safe to share between threads."""

    def __init__(
        self,
        access_key: str,
        *,
        base_url: str = DEFAULT_API_URL,
        timeout_s: float = 15.0,
        transport: httpx.BaseTransport | None = None,
        cache: AnswerCache | None = None,
    ) -> None:
        if not access_key.strip():
            raise ConfigError("UNSPLASH_ACCESS_KEY is empty")
        self.base_url = base_url.rstrip("/")
        self.cache = cache
        self._quota: Quota | None = None
        self._http = httpx.Client(
            base_url=self.base_url,
            timeout=timeout_s,
            transport=transport,
            headers={
                "Authorization": f"Client-ID {access_key}",
                "Accept-Version": "v1",
                "User-Agent": _USER_AGENT,
            },
            follow_redirects=True,
        )
        # The image host gets no key: only the API is to see it (and be counted against it).
        self._images = httpx.Client(
            timeout=timeout_s,
            transport=transport,
            headers={"User-Agent": _USER_AGENT},
            follow_redirects=True,
        )

    def close(self) -> None:
        """Closes the HTTP connections."""
        self._http.close()
        self._images.close()

    @property
    def quota(self) -> Quota | None:
        """The rate limit as the latest answer said (this client's, else the cache's)."""
        if self._quota is not None:
            return self._quota
        if self.cache is None:
            return None
        found = self.cache.get(_QUOTA_KEY)
        if not isinstance(found, dict):
            return None
        return Quota(found.get("limit"), found.get("remaining"), float(found.get("at") or 0))

    def __enter__(self) -> UnsplashClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the calls ------------------------------------------------------------------------------

    def search(
        self,
        query: str,
        *,
        page: int = 1,
        per_page: int = 12,
        orientation: str | None = None,
        color: str | None = None,
        cache_partition: str,
    ) -> SearchPage:
        """One page of photos matching ``query``, newest relevance first.

        ``cache_partition`` (the searching client's id) is part of the cache key: a page kept
        for one client is never another's answer, so nobody can tell from a cached (or quick)
        answer what another client searched.
        """
        query = query.strip()
        if not query:
            raise InvalidInput("type what to search for, e.g. 'scandinavian living room'")
        if page < 1 or not 1 <= per_page <= MAX_PER_PAGE:
            raise InvalidInput(f"page starts at 1 and a page holds 1 to {MAX_PER_PAGE} photos")
        if orientation is not None and orientation not in ORIENTATIONS:
            raise InvalidInput(f"orientation must be one of {', '.join(ORIENTATIONS)}")
        if color is not None and color not in COLORS:
            raise InvalidInput(f"colour must be one of {', '.join(COLORS)}")
        params: dict[str, str | int] = {"query": query, "page": page, "per_page": per_page}
        if orientation:
            params["orientation"] = orientation
        if color:
            params["color"] = color
        key = search_key(self.base_url, partition=cache_partition, **params)
        kept = self.cache.get(key) if self.cache is not None else None
        if isinstance(kept, dict):
            try:
                return self._with_quota(_page_from_json(kept), cached=True)
            except (TypeError, KeyError, ValueError):
                pass  # an entry of another version: ask again
        body = self._json("GET", "/search/photos", params=params, what="the photo search")
        results = body.get("results")
        if not isinstance(results, list):
            raise TransientProviderError("Unsplash answered the search without results")
        page_found = SearchPage(
            photos=[self._photo(item) for item in results if isinstance(item, dict)],
            total=int(body.get("total") or 0),
            total_pages=int(body.get("total_pages") or 0),
            page=page,
            per_page=per_page,
            source="unsplash",
        )
        if self.cache is not None:
            self.cache.set(key, dataclasses.asdict(page_found), SEARCH_TTL_S)
        return self._with_quota(page_found, cached=False)

    def _with_quota(self, page: SearchPage, *, cached: bool) -> SearchPage:
        quota = self.quota
        return dataclasses.replace(
            page,
            cached=cached,
            rate_limit=quota.limit if quota else None,
            rate_limit_remaining=quota.remaining if quota else None,
        )

    def track_download(self, photo: InspirationPhoto) -> str:
        """Tell Unsplash the photo is being used; returns the URL to fetch it from."""
        location = str(photo.ref.get("download_location") or "")
        if not location:
            raise InvalidInput(f"photo {photo.id} has no download_location: search for it again")
        if urlsplit(location).netloc != urlsplit(self.base_url).netloc:
            raise InvalidInput(f"photo {photo.id}: its download_location is not Unsplash's API")
        body = self._json("GET", location, what=f"the download of photo {photo.id}")
        url = body.get("url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise TransientProviderError(f"Unsplash gave no download URL for photo {photo.id}")
        return url

    def fetch(self, url: str, *, width: int = DOWNLOAD_WIDTH) -> bytes:
        """The photo's bytes from a URL Unsplash gave, at most ``width`` pixels wide."""
        parts = urlsplit(url)
        query = [(k, v) for k, v in parse_qsl(parts.query) if k != "w"] + [("w", str(width))]
        sized = urlunsplit(parts._replace(query=urlencode(query)))
        try:
            response = self._images.get(sized)
        except httpx.TimeoutException as error:
            raise TransientProviderError("Unsplash did not send the photo in time") from error
        except httpx.TransportError as error:
            raise TransientProviderError(
                f"Unsplash's image host could not be reached ({type(error).__name__})"
            ) from error
        if response.status_code >= 400:
            raise _classify(response, "the photo")
        data = response.content
        if len(data) > MAX_PHOTO_BYTES:
            raise PermanentProviderError("the Unsplash photo is larger than 40 MB")
        return data

    # -- answers -------------------------------------------------------------------------------

    def _photo(self, item: dict[str, Any]) -> InspirationPhoto:
        user = item.get("user") or {}
        links = item.get("links") or {}
        urls = item.get("urls") or {}
        name = str(user.get("name") or user.get("username") or "an Unsplash photographer")
        profile = (user.get("links") or {}).get("html") or (
            f"https://unsplash.com/@{user['username']}" if user.get("username") else None
        )
        photo_page = links.get("html")
        attribution = {
            "provider": "unsplash",
            "photo_id": str(item.get("id")),
            "photographer": name,
            "username": user.get("username"),
            "photographer_url": referral(profile) if profile else None,
            "photo_url": referral(photo_page) if photo_page else None,
            "unsplash_url": referral("https://unsplash.com/"),
            "text": f"Photo by {name} on Unsplash",
        }
        return InspirationPhoto(
            id=str(item.get("id")),
            source="unsplash",
            description=str(item.get("description") or item.get("alt_description") or ""),
            width=_int(item.get("width")),
            height=_int(item.get("height")),
            color=item.get("color"),
            blur_hash=item.get("blur_hash"),
            thumb_url=urls.get("small") or urls.get("thumb"),
            attribution=attribution,
            ref={"download_location": links.get("download_location"), "urls": dict(urls)},
        )

    # -- HTTP and its failures ------------------------------------------------------------------

    def _json(
        self, method: str, url: str, *, what: str, params: dict[str, str | int] | None = None
    ) -> dict[str, Any]:
        response = self._send(method, url, what=what, params=params)
        try:
            body = response.json()
        except ValueError as error:
            raise TransientProviderError(f"Unsplash sent an unreadable answer to {what}") from error
        if not isinstance(body, dict):
            raise TransientProviderError(f"Unsplash sent an unexpected answer to {what}")
        return body

    def _send(
        self, method: str, url: str, *, what: str, params: dict[str, str | int] | None = None
    ) -> httpx.Response:
        try:
            response = self._http.request(method, url, params=params)
        except httpx.TimeoutException as error:
            raise TransientProviderError(f"Unsplash did not answer {what} in time") from error
        except httpx.TransportError as error:
            raise TransientProviderError(
                f"Unsplash could not be reached for {what} ({type(error).__name__})"
            ) from error
        self._note_quota(response)
        if response.status_code >= 400:
            raise _classify(response, what)
        return response

    def _note_quota(self, response: httpx.Response) -> None:
        """Keeps what the answer says of the rate limit (every API answer says it)."""
        limit = _header_int(response, "x-ratelimit-limit")
        remaining = _header_int(response, "x-ratelimit-remaining")
        if limit is None and remaining is None:
            return
        self._quota = Quota(limit, remaining, time.time())
        if self.cache is not None:
            self.cache.set(
                _QUOTA_KEY,
                {"limit": limit, "remaining": remaining, "at": self._quota.at},
                SEARCH_TTL_S,
            )


def _header_int(response: httpx.Response, name: str) -> int | None:
    value = response.headers.get(name)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _page_from_json(data: dict[str, Any]) -> SearchPage:
    photos = [InspirationPhoto(**item) for item in data["photos"]]
    return SearchPage(**{**data, "photos": photos})


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and value > 0 else None


def _errors_of(response: httpx.Response) -> str:
    """Unsplash's error text: ``{"errors": [...]}`` joined, or the plain body."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:200]
    if isinstance(body, dict) and isinstance(body.get("errors"), list):
        return "; ".join(str(e) for e in body["errors"])[:200]
    return response.text.strip()[:200]


def _classify(response: httpx.Response, what: str) -> ProviderError:
    code = response.status_code
    said = _errors_of(response)
    remaining = response.headers.get("x-ratelimit-remaining")
    if code == 429 or (code == 403 and ("rate limit" in said.lower() or remaining == "0")):
        limit = response.headers.get("x-ratelimit-limit")
        per_hour = f" ({limit} requests an hour)" if limit else ""
        return RateLimited(
            f"Unsplash's request limit for this app is used up{per_hour}; it resets within the"
            " hour. Try the search again later, or upload photos or use your own scene library"
            " meanwhile.",
            retry_after=None,
        )
    if code == 401:
        return PermanentProviderError(
            f"Unsplash refused the access key ({said or 'unauthorized'}): check UNSPLASH_ACCESS_KEY"
        )
    if code == 404:
        return PermanentProviderError(f"Unsplash does not have {what} any more (404)")
    if code >= 500 or code == 408:
        return TransientProviderError(f"Unsplash failed {what} ({code}); try again shortly")
    return PermanentProviderError(f"Unsplash refused {what} ({code}: {said or 'no reason given'})")
