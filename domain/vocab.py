"""The bureau's fixed vocabulary: departments, levels, unit kinds, statuses, sub-districts.

Plain string enums so that they travel unchanged through JSON, MQTT and Redis.
"""

from datetime import datetime, timedelta, timezone
from enum import StrEnum
from functools import lru_cache

LOCAL_TZ = timezone(timedelta(hours=8), "CST")  # Shenzhen: China keeps no daylight saving


def local_day(ms: int) -> str:
    """The local day (YYYYMMDD, UTC+8) of a time in epoch ms: the day key of the store."""
    return _local_day(ms // 3_600_000)  # days start on a whole hour in UTC+8


@lru_cache(maxsize=512)
def _local_day(hour: int) -> str:
    return datetime.fromtimestamp(hour * 3600, LOCAL_TZ).strftime("%Y%m%d")


class Department(StrEnum):
    ECO_ENVIRONMENT = "eco_environment"  # 生态环保
    WATER = "water"  # 水务
    FORESTRY = "forestry"  # 林业
    AGRICULTURE = "agriculture"  # 农业
    LAND_INSPECTION = "land_inspection"  # 规土监察
    MARINE_FISHERIES = "marine_fisheries"  # 海洋渔业
    FISHERY_MARITIME = "fishery_maritime"  # 渔政海监


class Level(StrEnum):
    DISTRICT = "district"  # 区级综合执法局
    SUBDISTRICT = "subdistrict"  # 办事处
    COMMUNITY = "community"  # 社区工作站


class UnitKind(StrEnum):
    FOOT = "foot"
    VEHICLE = "vehicle"
    BOAT = "boat"
    DRONE = "drone"


class UnitStatus(StrEnum):
    AVAILABLE = "available"
    DISPATCHED = "dispatched"
    EN_ROUTE = "en_route"
    ON_SCENE = "on_scene"
    OFF_DUTY = "off_duty"


class Subdistrict(StrEnum):
    KUICHONG = "kuichong"  # 葵涌 440307009
    DAPENG = "dapeng"  # 大鹏 440307010
    NANAO = "nanao"  # 南澳 440307011


class SensorKind(StrEnum):
    SEAWATER = "seawater"  # judged against GB 3097-1997
    SURFACE_WATER = "surface_water"  # judged against GB 3838-2002
    AIR = "air"
    NOISE = "noise"
    CAMERA = "camera"


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


# Which kinds move on land and which at sea; drones fly over both.
SEA_KINDS = frozenset({UnitKind.BOAT})
LAND_KINDS = frozenset({UnitKind.FOOT, UnitKind.VEHICLE})


# Why a duty chief may dismiss an alert without opening an incident (the feed's buttons, the API).
ALERT_DISMISS_REASONS = ("false_alarm", "duplicate", "handled_elsewhere")
