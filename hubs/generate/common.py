"""Shared pieces of the fictional group: the time window, places, names, identifiers.

Everything is drawn from one seeded random.Random, never from the clock or hash order, so a
seed always writes byte-identical files.
"""

from __future__ import annotations

import math
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

# Two years of operations, ending before "today" so every closed fact is in the past.
START = datetime(2024, 11, 1, tzinfo=UTC)
END = datetime(2026, 11, 1, tzinfo=UTC)
NAMESPACE = uuid.UUID("6f1c2b1e-6a0e-4f4e-9a53-7f1e2c3d4b5a")


def stable_uuid(*parts: object) -> str:
    """The same UUID for the same parts on every run (uuid5), so keys survive regeneration."""
    return str(uuid.uuid5(NAMESPACE, ":".join(str(p) for p in parts)))


def party_id(kind: str, name: str) -> str:
    """Party ids are shared across hubs: every hub derives a party's id the same way."""
    return stable_uuid("party", kind, name)


def iso(moment: datetime | date | None) -> str:
    if moment is None:
        return ""
    if isinstance(moment, datetime):
        return moment.astimezone(UTC).isoformat(timespec="seconds")
    return moment.isoformat()


def money(value: float) -> str:
    return f"{value:.2f}"


@dataclass(frozen=True)
class City:
    name: str
    state: str
    lat: float
    lon: float


# Freight hubs of the lower 48 (and two Canadian ones), the lanes the fleet runs.
CITIES = [
    City("Tulsa", "OK", 36.154, -95.993),
    City("Oklahoma City", "OK", 35.468, -97.516),
    City("Dallas", "TX", 32.777, -96.797),
    City("Houston", "TX", 29.760, -95.370),
    City("San Antonio", "TX", 29.424, -98.494),
    City("El Paso", "TX", 31.762, -106.485),
    City("Laredo", "TX", 27.506, -99.507),
    City("Amarillo", "TX", 35.222, -101.831),
    City("Memphis", "TN", 35.150, -90.049),
    City("Nashville", "TN", 36.163, -86.781),
    City("Atlanta", "GA", 33.749, -84.388),
    City("Savannah", "GA", 32.081, -81.091),
    City("Jacksonville", "FL", 30.332, -81.656),
    City("Orlando", "FL", 28.538, -81.379),
    City("Charlotte", "NC", 35.227, -80.843),
    City("Richmond", "VA", 37.541, -77.436),
    City("Harrisburg", "PA", 40.273, -76.887),
    City("Allentown", "PA", 40.608, -75.490),
    City("Newark", "NJ", 40.736, -74.172),
    City("Columbus", "OH", 39.961, -82.999),
    City("Cincinnati", "OH", 39.103, -84.512),
    City("Indianapolis", "IN", 39.768, -86.158),
    City("Chicago", "IL", 41.878, -87.630),
    City("Joliet", "IL", 41.525, -88.082),
    City("Detroit", "MI", 42.331, -83.046),
    City("Milwaukee", "WI", 43.039, -87.906),
    City("Minneapolis", "MN", 44.978, -93.265),
    City("Des Moines", "IA", 41.587, -93.625),
    City("Kansas City", "MO", 39.100, -94.579),
    City("St. Louis", "MO", 38.627, -90.199),
    City("Omaha", "NE", 41.257, -95.935),
    City("Denver", "CO", 39.739, -104.990),
    City("Salt Lake City", "UT", 40.761, -111.891),
    City("Phoenix", "AZ", 33.448, -112.074),
    City("Albuquerque", "NM", 35.084, -106.650),
    City("Las Vegas", "NV", 36.170, -115.140),
    City("Los Angeles", "CA", 34.052, -118.244),
    City("Ontario", "CA", 34.063, -117.651),
    City("Stockton", "CA", 37.958, -121.291),
    City("Portland", "OR", 45.515, -122.679),
    City("Seattle", "WA", 47.606, -122.332),
    City("Boise", "ID", 43.615, -116.202),
    City("Little Rock", "AR", 34.746, -92.290),
    City("Louisville", "KY", 38.253, -85.759),
    City("Birmingham", "AL", 33.519, -86.810),
    City("Jackson", "MS", 32.299, -90.185),
    City("Shreveport", "LA", 32.525, -93.750),
    City("Toronto", "ON", 43.653, -79.383),
]
HOME = CITIES[0]  # Origin Transport's terminal is in Tulsa

FIRST_NAMES = [
    "James",
    "Robert",
    "John",
    "Michael",
    "David",
    "William",
    "Richard",
    "Joseph",
    "Thomas",
    "Charles",
    "Christopher",
    "Daniel",
    "Matthew",
    "Anthony",
    "Mark",
    "Donald",
    "Steven",
    "Paul",
    "Andrew",
    "Joshua",
    "Kenneth",
    "Kevin",
    "Brian",
    "George",
    "Timothy",
    "Ronald",
    "Jason",
    "Edward",
    "Jeffrey",
    "Ryan",
    "Jacob",
    "Gary",
    "Nicholas",
    "Eric",
    "Jonathan",
    "Stephen",
    "Larry",
    "Justin",
    "Scott",
    "Brandon",
    "Maria",
    "Linda",
    "Patricia",
    "Jennifer",
    "Elizabeth",
    "Susan",
    "Jessica",
    "Sarah",
    "Karen",
    "Lisa",
    "Nancy",
    "Sandra",
    "Ashley",
    "Kimberly",
    "Luis",
    "Carlos",
    "Jose",
    "Juan",
    "Miguel",
    "Ivan",
    "Dmitri",
    "Marcus",
    "Andre",
    "Tyrone",
]
LAST_NAMES = [
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Perez",
    "Thompson",
    "White",
    "Harris",
    "Sanchez",
    "Clark",
    "Ramirez",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Torres",
    "Nguyen",
    "Hill",
    "Flores",
    "Green",
    "Adams",
    "Nelson",
    "Baker",
    "Hall",
    "Rivera",
    "Campbell",
    "Mitchell",
    "Carter",
    "Roberts",
    "Petrov",
    "Kowalski",
    "Okafor",
]

# ISO 3779 check digit.
_TRANSLIT = dict(
    zip("ABCDEFGHJKLMNPRSTUVWXYZ", [1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 7, 9, 2, 3, 4, 5, 6, 7, 8, 9], strict=True)
)
_WEIGHTS = [8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2]
_VIN_CHARS = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"
YEAR_CODES = dict(zip(range(2010, 2031), "ABCDEFGHJKLMNPRSTVWXY", strict=True))


def vin_check_digit(vin: str) -> str:
    total = sum((int(c) if c.isdigit() else _TRANSLIT[c]) * w for c, w in zip(vin, _WEIGHTS, strict=True))
    remainder = total % 11
    return "X" if remainder == 10 else str(remainder)


def make_vin(rng: random.Random, wmi: str, model_year: int, serial: int) -> str:
    vds = "".join(rng.choice(_VIN_CHARS) for _ in range(5))
    plant = rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ")
    body = f"{wmi}{vds}0{YEAR_CODES[model_year]}{plant}{serial:06d}"
    return body[:8] + vin_check_digit(body) + body[9:]


def spoil_vin(vin: str) -> str:
    """The same VIN with a wrong check digit."""
    wrong = "0" if vin[8] != "0" else "1"
    return vin[:8] + wrong + vin[9:]


def miles_between(a: City, b: City) -> float:
    """Practical truck miles: great-circle distance times a typical road factor."""
    lat1, lon1, lat2, lon2 = map(math.radians, (a.lat, a.lon, b.lat, b.lon))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 3958.8 * 2 * math.asin(math.sqrt(h)) * 1.18


def nearest_city(lat: float, lon: float) -> City:
    return min(CITIES, key=lambda c: (c.lat - lat) ** 2 + (c.lon - lon) ** 2)


def hours(n: float) -> timedelta:
    return timedelta(hours=n)
