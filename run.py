"""ecocommand's one entry point.

python run.py                      the whole system: embedded Redis and broker (unless
                                   REDIS_URL / MQTT_URL are set), ingest, simulator, web app
python run.py ingest               the ingest worker only
python run.py simulate [--rate N]  the traffic simulator only
python run.py simulate --history 30d  30 days of simulated history for the KPIs, then exit
python run.py web                  the web app only
python run.py bench NAME [--out F] a benchmark, JSON report to F (default var/bench/NAME.json)
python run.py users add NAME --role ROLE [--unit UNIT]
                                   an account (password asked, or one line on stdin); an
                                   officer's is bound to a unit device (the field app /field)
python run.py users list           the accounts, their roles and how many API tokens
python run.py users token NAME [--revoke]
                                   a new API token on stdout (shown once), or revoke all
python run.py users tokens NAME    the ids of the account's API tokens
python run.py users token NAME --revoke --id ID
                                   revoke one of them
python run.py users role NAME ROLE [--unit UNIT]
                                   give an account another role
python run.py users disable NAME / users enable NAME
                                   refuse an account's sessions and tokens (kept), or undo
python run.py devices add ID --kind KIND
                                   a broker identity (unit, ais, sensor, owntracks, service):
                                   its user name and password on stdout, shown once
python run.py devices list         the broker roster: kinds, active or revoked, when, by whom
python run.py devices revoke ID    the identity can no longer connect (mosquitto: after an
                                   export and a SIGHUP, see docs/deploy.md)
python run.py devices export --mosquitto DIR [--port N]
                                   mosquitto's password file, ACL and configuration in DIR
python run.py audit verify [--from DAY] [--heads DIR]
                                   recompute the audit chains and their signed heads; names
                                   the first entry changed, removed, inserted or reordered
                                   and exits 1 then, 0 on an intact record
python run.py audit export DIR     the public key and every signed head, to keep elsewhere
python run.py backup DIR           a consistent copy of Redis, evidence and audit files, while
                                   the system runs, into DIR (new or empty)
python run.py restore DIR [--force] [--check]
                                   bring a stopped system back to the backup in DIR (--check:
                                   only verify it)
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import ValidationError

from domain.clock import system_ms

if TYPE_CHECKING:
    from services.devices import Export


def _settings():  # imported lazily so that --help is instant
    from config.settings import get_settings

    return get_settings()


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    return stop


def cmd_ingest(_args: argparse.Namespace) -> None:
    from infra.connections import redacted
    from ingest.worker import IngestWorker

    s = _settings()
    stop = _stop_on_signals()
    worker = IngestWorker(s, stop)
    shown = f"{redacted(s.effective_mqtt_url)} -> {redacted(s.effective_redis_url)}"
    print(f"ingest: {shown}", flush=True)
    worker.run()


def cmd_simulate(args: argparse.Namespace) -> None:
    if args.history:
        return cmd_history(args)
    from infra.connections import redacted
    from simulator.main import run

    stop = _stop_on_signals()
    s = _settings()
    url = redacted(s.effective_mqtt_url)
    print(f"simulator: publishing to {url} at rate x{args.rate}", flush=True)
    run(s, rate=args.rate, stop=stop, seed=args.seed)


def cmd_history(args: argparse.Namespace) -> None:
    from domain.geo import load_geography
    from infra.connections import Unreachable, redis_client
    from simulator import history, history_tracks
    from store import layout
    from store.archive import root as archive_root

    s = _settings()
    try:
        r = redis_client(s.effective_redis_url, wait_s=0)
        layout.ensure(r)
    except Unreachable as e:  # the history goes into the running system's Redis
        raise Unreachable(
            f"{e}; or start the system first (`python run.py`, then this in another terminal)"
        ) from None
    geo = load_geography()
    fleet, now = history.demo_fleet(geo, args.seed), system_ms()
    out = history.fill(r, geo, fleet, args.history, now, args.seed)
    days = history.fill_days(r, geo, fleet, args.history, now, args.seed)
    history_ms = int(s.history_hours * 3_600_000)
    past = history_tracks.fill_tracks(
        r, archive_root(s.data_dir), geo, args.history, now, history_ms, args.seed
    )
    print(
        f"simulated history of {args.history} days: {out['new']} incidents written, "
        f"{out['skipped']} already there (ids INC-SIM-..., marked simulated); {days} past "
        "days of patrols, units on duty and water readings (source: simulated); "
        f"{past['rows']} track entries archived in {s.data_dir / 'archive'}",
        flush=True,
    )


def _days(text: str) -> int:
    """'30d' or '30': a number of days, 1..366."""
    try:
        n = int(text.removesuffix("d"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of days like 30d") from None
    if not 1 <= n <= 366:
        raise argparse.ArgumentTypeError("between 1d and 366d")
    return n


def cmd_web(_args: argparse.Namespace) -> None:
    from dashboard.serve import serve

    serve(_settings())


def cmd_bench(args: argparse.Namespace) -> None:
    from bench import run_benchmark

    s = _settings()
    out = Path(args.out) if args.out else s.data_dir / "bench" / f"{args.name}.json"
    run_benchmark(args.name, out, s, args.options)


def cmd_users(args: argparse.Namespace) -> None:
    from dashboard import users_cli

    if args.action == "add":
        users_cli.add(_settings(), args.name, args.role, unit=args.unit)
    elif args.action == "token":
        users_cli.token(_settings(), args.name, args.revoke, args.id)
    elif args.action == "role":
        users_cli.role(_settings(), args.name, args.role, unit=args.unit)
    elif args.action in ("disable", "enable"):
        users_cli.disable(_settings(), args.name, args.action == "disable")
    elif args.action == "tokens":
        users_cli.tokens(_settings(), args.name)
    else:
        users_cli.show(_settings())


def cmd_devices(args: argparse.Namespace) -> None:
    from infra.connections import redis_client
    from services import devices
    from store import layout

    s = _settings()
    r = redis_client(s.effective_redis_url, wait_s=0)
    layout.ensure(r)
    if args.action == "add":
        secret = devices.add(r, args.id, args.kind, system_ms())
        print(f"username: {args.id}\npassword: {secret}", flush=True)  # scripts read these two
        print(
            f"{args.kind} {args.id} added; its password is shown only now. For mosquitto: "
            "`devices export` again, then SIGHUP",
            file=sys.stderr,
        )
    elif args.action == "revoke":
        devices.revoke(r, args.id, system_ms())
        print(
            f"{args.id} revoked: the embedded broker refuses it within seconds; mosquitto once "
            "`devices export` has run again and mosquitto got a SIGHUP (docs/deploy.md)"
        )
    elif args.action == "export":
        try:
            out = devices.export_mosquitto(r, Path(args.mosquitto), args.port, s.topic_prefix)
        except PermissionError as e:
            raise ValueError(f"cannot write {e.filename}: {e.strerror}") from None
        _print_export(out, args.port)
    else:
        lines = devices.list_lines(r)
        print("\n".join(lines) if lines else "no devices in the roster")


def _print_export(out: Export, port: int) -> None:
    print(f"wrote {out.passwords} ({len(out.exported)} active identities, mode 0600)")
    print(f"wrote {out.acl} (one user block each, mode 0600)")
    runs_as = f", mosquitto runs as {out.user}" if out.user else ""
    print(f"wrote {out.conf} (listener {port}, no anonymous clients{runs_as})")
    print(f"start:  {out.command}")
    print("reload: kill -HUP <that mosquitto's pid>  (after each add or revoke and export)")


def _devices_parser(sub: argparse._SubParsersAction) -> None:
    from domain.devices import DEVICE_KINDS

    p = sub.add_parser("devices", help="manage the broker's devices and service accounts")
    actions = p.add_subparsers(dest="action", required=True)
    add = actions.add_parser("add", help="add a device; prints its password once")
    add.add_argument("id", help="its MQTT user name, as in its topics (e.g. U-7)")
    add.add_argument("--kind", required=True, choices=DEVICE_KINDS)
    actions.add_parser("list", help="list the roster, times in UTC+8 (never a secret)")
    actions.add_parser("revoke", help="revoke a device").add_argument("id")
    export = actions.add_parser("export", help="write mosquitto's files from the roster")
    export.add_argument("--mosquitto", required=True, metavar="DIR", help="folder to write")
    export.add_argument("--port", type=int, default=1883, help="listener port (default 1883)")
    p.set_defaults(fn=cmd_devices)


def cmd_audit(args: argparse.Namespace) -> None:
    from domain.audit import closing_day
    from domain.clock import system_ms
    from infra.connections import redis_client
    from services import audit
    from store import layout

    s = _settings()
    r = redis_client(s.effective_redis_url, wait_s=0)
    layout.ensure(r)
    if args.action == "export":
        counts = audit.export(r, s.data_dir, Path(args.dir))
        heads = ", ".join(f"{c}: {n}" for c, n in sorted(counts.items())) or "none yet"
        print(f"exported the public key and the signed heads ({heads}) to {args.dir}")
        return
    day = args.from_day.replace("-", "") if args.from_day else ""
    heads = Path(args.heads) if args.heads else None
    reports = audit.verify(r, s.data_dir, day, heads, (s.audit_keep_days, closing_day(system_ms())))
    for rep in reports:
        span = f"{rep.days[0]}..{rep.days[-1]}" if rep.days else "no days"
        state = "intact" if rep.ok else f"BROKEN: {rep.problem}"
        print(f"{rep.chain}: {rep.entries} entries ({span}), {rep.heads} signed heads: {state}")
    if not all(rep.ok for rep in reports):
        raise SystemExit(1)


def _audit_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("audit", help="check or export the audit log")
    actions = p.add_subparsers(dest="action", required=True)
    verify = actions.add_parser("verify", help="recompute the chains and their signatures")
    verify.add_argument("--from", dest="from_day", metavar="DAY", help="YYYY-MM-DD (local)")
    verify.add_argument("--heads", metavar="DIR", help="also check against an export")
    actions.add_parser("export", help="write the public key and signed heads").add_argument("dir")
    p.set_defaults(fn=cmd_audit)


def cmd_backup(args: argparse.Namespace) -> None:
    from embedded.valkey_rdb import ValkeyRdb
    from services import backup

    backup.take(_settings(), Path(args.dir), ValkeyRdb(), _say)


def cmd_restore(args: argparse.Namespace) -> None:
    from embedded.valkey_rdb import ValkeyRdb
    from services import restore

    if args.check:
        restore.verify(Path(args.dir), ValkeyRdb(), _say)
    else:
        restore.restore(_settings(), Path(args.dir), ValkeyRdb(), _say, force=args.force)


def _say(line: str) -> None:
    print(line, flush=True)


def _backup_parsers(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("backup", help="copy Redis, evidence and audit files consistently")
    p.add_argument("dir", help="a new or empty folder")
    p.set_defaults(fn=cmd_backup)
    p = sub.add_parser("restore", help="bring a stopped system back to a backup")
    p.add_argument("dir", help="a folder written by `backup`")
    p.add_argument(
        "--force",
        action="store_true",
        help="with REDIS_URL: restore the files although that Redis holds keys",
    )
    p.add_argument("--check", action="store_true", help="only verify the backup; change nothing")
    p.set_defaults(fn=cmd_restore)


def cmd_all(_args: argparse.Namespace) -> None:
    from embedded.supervisor import run_all

    run_all(_settings(), Path(__file__).resolve())


def _positive(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, not {text}")
    return value


DEMO_SEED = 2026


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="run.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = p.add_subparsers(dest="command")
    sub.add_parser("ingest", help="run the ingest worker").set_defaults(fn=cmd_ingest)
    sim = sub.add_parser("simulate", help="run the traffic simulator")
    sim.add_argument("--rate", type=_positive, default=1.0, help="traffic multiplier (default 1)")
    # A fixed default seed: the demo's fleet (vessel MMSIs, unit routes) is the same at every
    # start, so a restart does not add a second fleet beside the first in the kept Redis data.
    sim.add_argument(
        "--seed", type=int, default=DEMO_SEED, help=f"fleet and traffic seed (default {DEMO_SEED})"
    )
    sim.add_argument(
        "--history",
        type=_days,
        default=None,
        metavar="30d",
        help="write that many days of simulated past incidents, patrols and readings, then exit",
    )
    sim.set_defaults(fn=cmd_simulate)
    sub.add_parser("web", help="run the web app").set_defaults(fn=cmd_web)
    bench = sub.add_parser("bench", help="run a benchmark and write its JSON report")
    bench.add_argument("name")
    bench.add_argument("--out", default=None)
    bench.add_argument("options", nargs="*", help="KEY=VALUE options of the benchmark")
    bench.set_defaults(fn=cmd_bench)
    accounts = sub.add_parser("users", help="manage the web app's accounts")
    actions = accounts.add_subparsers(dest="action", required=True)
    add = actions.add_parser(
        "add", help="create an account; the password is read, never an argument"
    )
    add.add_argument("name")
    add.add_argument(
        "--role",
        required=True,
        help="operator, dispatcher, leader or admin (see docs/design); officer for /field",
    )
    add.add_argument("--unit", help="an officer's unit: an active unit device of the roster")
    actions.add_parser("list", help="list the accounts")
    token = actions.add_parser("token", help="print a new API token for /api/* (shown once)")
    token.add_argument("name")
    token.add_argument("--revoke", action="store_true", help="revoke all the account's tokens")
    token.add_argument("--id", help="with --revoke: only the token with this id")
    actions.add_parser("tokens", help="list an account's API token ids").add_argument("name")
    role = actions.add_parser("role", help="give an account another role")
    role.add_argument("name")
    role.add_argument("role", help="operator, dispatcher, leader, admin or officer")
    role.add_argument("--unit", help="an officer's unit: an active unit device of the roster")
    for act, what in (("disable", "refuse its sessions and tokens"), ("enable", "undo disable")):
        actions.add_parser(act, help=f"{act} an account: {what}").add_argument("name")
    accounts.set_defaults(fn=cmd_users)
    _devices_parser(sub)
    _audit_parser(sub)
    _backup_parsers(sub)
    args, extra = p.parse_known_args(argv)
    # `bench NAME --out F KEY=VALUE`: argparse leaves options after --out over; they are the
    # benchmark's KEY=VALUE options too
    if extra and getattr(args, "fn", None) is cmd_bench and all("=" in x for x in extra):
        args.options = [*args.options, *extra]
    elif extra:
        p.error(f"unrecognized arguments: {' '.join(extra)}")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    try:
        getattr(args, "fn", cmd_all)(args)
    except ValidationError as e:
        first = e.errors()[0]
        # a rule across settings (a TLS certificate without its key) has no single field
        where = f"setting {str(first['loc'][0]).upper()}" if first["loc"] else "settings"
        print(f"error: {where}: {first['msg']} (see .env.example)", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0
    except Exception as e:
        from infra.connections import Unreachable

        if isinstance(e, Unreachable | ValueError | FileNotFoundError):
            print(f"error: {e}", file=sys.stderr)
            return 2
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
