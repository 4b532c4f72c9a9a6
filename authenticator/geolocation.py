"""IP → place. Pluggable by ``AUTHENTICATOR["GEOLOCATION_BACKEND"]`` (a dotted path).

The default is offline: the IPv4+IPv6 country database shipped inside the geoip2fast
package, loaded once per process, no network. Any class with ``locate(ip) -> Place``
can replace it (a MaxMind reader, an HTTP service); ``NoGeolocation`` turns it off.
"""

from __future__ import annotations

import functools
import ipaddress
from dataclasses import dataclass
from typing import Protocol

from django.utils.module_loading import import_string


@dataclass(frozen=True)
class Place:
    country: str | None = None  # ISO 3166-1 alpha-2
    city: str | None = None

    def label(self) -> str:
        return "/".join(part for part in (self.country, self.city) if part)


UNKNOWN = Place()


class Geolocation(Protocol):
    def locate(self, ip: str | None) -> Place: ...


class NoGeolocation:
    def locate(self, ip: str | None) -> Place:
        return UNKNOWN


class OfflineGeolocation:
    def __init__(self) -> None:
        from geoip2fast import GeoIP2Fast

        self._db = GeoIP2Fast(verbose=False, geoip2fast_data_file="geoip2fast-ipv6.dat.gz")

    def locate(self, ip: str | None) -> Place:
        try:
            address = ipaddress.ip_address(ip or "")
        except ValueError:
            return UNKNOWN
        if not address.is_global:
            return UNKNOWN
        code = self._db.lookup(str(address)).country_code
        if not code or len(code) != 2 or not code.isalpha():
            return UNKNOWN
        return Place(country=code)


@functools.cache
def _backend(path: str) -> Geolocation:
    return import_string(path)()


def geolocation() -> Geolocation:
    from authenticator.core.conf import app_settings

    return _backend(app_settings.GEOLOCATION_BACKEND)


def locate(ip: str | None) -> Place:
    return geolocation().locate(ip)
