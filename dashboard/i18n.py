"""The one translation table: every label of the interface, Chinese (zh-CN) first.

`t(key, lang)` never fails at run time: an unknown key shows itself, so a missing label is seen
on the page and caught by the completeness test rather than crashing a callback.
"""

from __future__ import annotations

from typing import Literal

Lang = Literal["zh", "en"]
LANGS: tuple[Lang, ...] = ("zh", "en")
DEFAULT_LANG: Lang = "zh"

TABLE: dict[str, dict[Lang, str]] = {
    "app.title": {"zh": "生态综合执法指挥中心", "en": "Ecological Enforcement Command Centre"},
    "login.title": {"zh": "登录", "en": "Sign in"},
    "login.username": {"zh": "用户名", "en": "User name"},
    "login.password": {"zh": "密码", "en": "Password"},
    "login.submit": {"zh": "登录", "en": "Sign in"},
    "login.failed": {"zh": "用户名或密码错误", "en": "Wrong user name or password"},
    "login.throttled": {"zh": "尝试次数过多，请稍后再试",
                        "en": "Too many attempts; try again later"},
    "logout": {"zh": "退出", "en": "Sign out"},
    "nav.map": {"zh": "态势地图", "en": "Live map"},
    "nav.dispatch": {"zh": "指挥调度", "en": "Dispatch"},
    "page.no_access": {"zh": "您的角色无权查看此页面", "en": "Your role may not open this page"},
    "page.not_found": {"zh": "没有这个页面", "en": "No such page"},
    "role.operator": {"zh": "值班员", "en": "Operator"},
    "role.dispatcher": {"zh": "值班长", "en": "Duty chief"},
    "role.leader": {"zh": "领导", "en": "Leader"},
    "role.admin": {"zh": "管理员", "en": "Administrator"},
    "dept.eco_environment": {"zh": "生态环保", "en": "Eco-environment"},
    "dept.water": {"zh": "水务", "en": "Water"},
    "dept.forestry": {"zh": "林业", "en": "Forestry"},
    "dept.agriculture": {"zh": "农业", "en": "Agriculture"},
    "dept.land_inspection": {"zh": "规土监察", "en": "Land-use inspection"},
    "dept.marine_fisheries": {"zh": "海洋渔业", "en": "Marine fisheries"},
    "dept.fishery_maritime": {"zh": "渔政海监", "en": "Fishery & maritime surveillance"},
    "level.district": {"zh": "区级", "en": "District"},
    "level.subdistrict": {"zh": "街道办事处", "en": "Sub-district"},
    "level.community": {"zh": "社区工作站", "en": "Community"},
    "kind.foot": {"zh": "步巡", "en": "On foot"},
    "kind.vehicle": {"zh": "车巡", "en": "Vehicle"},
    "kind.boat": {"zh": "船巡", "en": "Boat"},
    "kind.drone": {"zh": "无人机", "en": "Drone"},
    "status.available": {"zh": "待命", "en": "Available"},
    "status.dispatched": {"zh": "已派遣", "en": "Dispatched"},
    "status.en_route": {"zh": "前往中", "en": "En route"},
    "status.on_scene": {"zh": "在现场", "en": "On scene"},
    "status.off_duty": {"zh": "离岗", "en": "Off duty"},
    "subdistrict.kuichong": {"zh": "葵涌", "en": "Kuichong"},
    "subdistrict.dapeng": {"zh": "大鹏", "en": "Dapeng"},
    "subdistrict.nanao": {"zh": "南澳", "en": "Nan'ao"},
    "severity.info": {"zh": "提示", "en": "Info"},
    "severity.warning": {"zh": "警告", "en": "Warning"},
    "severity.critical": {"zh": "严重", "en": "Critical"},
    "count.units": {"zh": "巡查力量", "en": "Units"},
    "count.vessels": {"zh": "船舶", "en": "Vessels"},
    "count.sensors": {"zh": "监测点", "en": "Sensors"},
    "count.open_alerts": {"zh": "未处理告警", "en": "Open alerts"},
    "count.messages": {"zh": "接收消息", "en": "Messages"},
    "count.deadletter": {"zh": "拒收消息", "en": "Rejected"},
    # live map page
    "map.lang": {"zh": "语言", "en": "Language"},
    "map.units_by_status": {"zh": "巡查力量状态", "en": "Units by status"},
    "map.freshness": {"zh": "最新数据：{age}前", "en": "Latest data: {age} ago"},
    "map.no_heartbeat": {"zh": "尚未收到数据", "en": "No data received yet"},
    "map.stale": {"zh": "数据已过时：超过30秒未收到新数据（现场设备无消息或数据接入中断），"
                        "地图上的位置可能不是最新的",
                  "en": "Data is stale: nothing received for over 30 s (field devices silent or "
                        "ingest down); positions on the map may be out of date"},
    "map.tiles_unavailable": {"zh": "底图瓦片不可用，显示本地底图",
                              "en": "Map tiles unavailable: showing the local basemap"},
    "layer.tiles": {"zh": "瓦片底图", "en": "Tiles"},
    "layer.land": {"zh": "陆地", "en": "Land"},
    "layer.district": {"zh": "大鹏新区边界", "en": "District boundary"},
    "layer.subdistricts": {"zh": "街道", "en": "Sub-districts"},
    "layer.grid": {"zh": "网格", "en": "Grid cells"},
    "layer.zones": {"zh": "保护区/禁渔区", "en": "Protected / no-fishing zones"},
    "field.id": {"zh": "编号", "en": "ID"},
    "field.department": {"zh": "部门", "en": "Department"},
    "field.level": {"zh": "层级", "en": "Level"},
    "field.status": {"zh": "状态", "en": "Status"},
    "field.speed": {"zh": "速度", "en": "Speed"},
    "field.course": {"zh": "航向", "en": "Course"},
    "field.last_report": {"zh": "上次报告", "en": "Last report"},
    "field.mmsi": {"zh": "MMSI", "en": "MMSI"},
    "field.callsign": {"zh": "呼号", "en": "Call sign"},
    "field.ship_type": {"zh": "船舶类型", "en": "Ship type"},
    "field.state": {"zh": "状态", "en": "State"},
    "sensor.ok": {"zh": "正常", "en": "Normal"},
    "sensor.warning": {"zh": "警告", "en": "Warning"},
    "sensor.critical": {"zh": "严重", "en": "Critical"},
    "sensor.no_data": {"zh": "无数据", "en": "No data"},
    "field.kind": {"zh": "类型", "en": "Kind"},
    "field.subdistrict": {"zh": "街道", "en": "Sub-district"},
    "field.class": {"zh": "水质类别", "en": "Water class"},
    "subdistrict.none": {"zh": "区外", "en": "Outside the district"},
    "sensor.breach": {"zh": "超标", "en": "over limit"},
    # filters, legend and the alert feed
    "filter.department": {"zh": "部门", "en": "Department"},
    "filter.subdistrict": {"zh": "街道", "en": "Sub-district"},
    "filter.status": {"zh": "状态", "en": "Status"},
    "filter.all": {"zh": "全部", "en": "All"},
    "legend.title": {"zh": "图例", "en": "Legend"},
    "legend.vessel": {"zh": "船舶（船首指向航向）", "en": "Vessel (bow points along its course)"},
    "legend.alert": {"zh": "告警位置", "en": "Alert location"},
    "layer.alerts": {"zh": "告警", "en": "Alerts"},
    "alerts.title": {"zh": "告警", "en": "Alerts"},
    "alerts.none": {"zh": "暂无未处理告警", "en": "No open alerts"},
    "alerts.more": {"zh": "另有{n}条未显示", "en": "{n} more not shown"},
    "alerts.ack": {"zh": "确认", "en": "Acknowledge"},
    "alerts.acked": {"zh": "{who}已确认", "en": "Acknowledged by {who}"},
    "alerts.close": {"zh": "关闭", "en": "Close"},
    "alerts.done_ack": {"zh": "告警已确认", "en": "Alert acknowledged"},
    "alerts.done_close": {"zh": "告警已关闭", "en": "Alert closed"},
    "alerts.gone": {"zh": "该告警已不在未处理列表中", "en": "That alert is no longer open"},
    "alert.water_quality": {"zh": "水质超标", "en": "Water quality breach"},
    "alert.geofence": {"zh": "船舶进入保护区/禁渔区",
                       "en": "Vessel in a protected / no-fishing zone"},
    "age.seconds": {"zh": "{n}秒", "en": "{n} s"},
    "age.minutes": {"zh": "{n}分钟", "en": "{n} min"},
    "age.hours": {"zh": "{n}小时", "en": "{n} h"},
}


def t(key: str, lang: str = DEFAULT_LANG) -> str:
    row = TABLE.get(key)
    if row is None:
        return key
    return row.get(lang) or row[DEFAULT_LANG]  # type: ignore[index]
