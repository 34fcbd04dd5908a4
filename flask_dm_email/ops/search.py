"""The status page's list of emails: the search form read from the query string, and one
page of matching rows. Reading only; no address ever leaves the database (a typed
address is hashed, and only the hash is compared).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import RowMapping, Select, func, or_, select

from ..addresses import strip_address
from ..hashing import hash_string
from ..outbox import states
from ..outbox.store import Store
from ..outbox.tables import outbox

C = outbox.c
PER_PAGE = 50
MAX_PAGE = 10_000
#: The columns the list shows: never the address or the personalisation.
LIST_COLUMNS = (C.id, C.status, C.template_name, C.template_id, C.reference, C.link_type, C.link_id,
                C.batch_id, C.attempts, C.last_error_class, C.created_at, C.updated_at)


@dataclass
class Search:
    """What the search form asked for, and what was wrong with it (``errors``: field ->
    message, shown as a GOV.UK error summary)."""

    reference: str = ""
    status: str = ""
    template: str = ""
    link: str = ""
    batch: str = ""
    page: int = 1
    errors: dict[str, str] = field(default_factory=dict)
    #: The hashes the typed address is searched by (never the address itself).
    to_hashes: tuple[str, ...] = ()

    @property
    def filtered(self) -> bool:
        return any((self.reference, self.status, self.template, self.link, self.batch, self.to_hashes))

    def query_args(self, **changes: Any) -> dict[str, Any]:
        """The query string for this search: an address only as its hash."""
        args: dict[str, Any] = {
            "reference": self.reference, "status": self.status, "template": self.template, "link": self.link,
            "batch": self.batch, "to_hash": ",".join(self.to_hashes), "page": self.page,
        }
        args.update(changes)
        return {name: value for name, value in args.items() if value not in ("", None, 1)}


def _one_line(args: Mapping[str, str], name: str, limit: int) -> tuple[str, str | None]:
    value = args.get(name, "").strip()
    if len(value) > limit:
        return "", f"{name.capitalize()} must be at most {limit} characters."
    if any(ord(ch) < 32 for ch in value):
        return "", f"{name.capitalize()} must be one line of text."
    return value, None


def read_search(args: Mapping[str, str], *, form: bool = False) -> Search:
    """The search in ``args``, each bad field named with its fix.

    ``form``: ``args`` is the search form's body, which may hold a typed address. A query
    string may not (it lands in access logs and browser history): it carries the hash.
    """
    search = Search()
    for name, limit in (("reference", 1000), ("template", 200), ("link", 310), ("batch", 200)):
        value, problem = _one_line(args, name, limit)
        setattr(search, name, value)
        if problem:
            search.errors[name] = problem
    status = args.get("status", "").strip()
    if status and status not in states.STATUSES:
        search.errors["status"] = "Status must be one of the statuses in the list (or any status)."
    else:
        search.status = status
    if search.link and (":" not in search.link or not all(search.link.split(":", 1))):
        search.errors["link"] = "Link must be written type:id, for example user:42."
    typed, problem = _one_line(args, "address", 320)
    if problem:
        search.errors["address"] = "Address must be one email address, on one line."
    elif typed and not form:
        search.errors["address"] = "Search by address with the search form, which keeps it out of the page's URL."
    elif typed:
        typed = strip_address(typed)
        # Hashed as typed and lowercased: one of them is what queue_email stored when the
        # caller wrote the address the same way.
        search.to_hashes = tuple(dict.fromkeys((hash_string(typed), hash_string(typed.lower()))))
    elif args.get("to_hash"):
        hashes = tuple(h for h in args["to_hash"].split(",") if h)
        if len(hashes) > 2 or any(len(h) != 44 for h in hashes):
            search.errors["address"] = "The address hash in the link is damaged: search for the address again."
        else:
            search.to_hashes = hashes
    raw_page = args.get("page", "1").strip()
    if not raw_page.isdigit() or not 1 <= int(raw_page) <= MAX_PAGE:
        search.errors["page"] = f"Page must be a whole number from 1 to {MAX_PAGE:,}."
    else:
        search.page = int(raw_page)
    return search


def _where(query: Select[Any], store: Store, search: Search) -> Select[Any]:
    service: Any = C.service_id
    if search.reference or search.link or search.to_hashes:
        # A few rows match: find them by that criterion's index. Written plainly, SQLite
        # (no statistics) would rather walk this service's rows in created_at order.
        service = func.coalesce(C.service_id, "")
    query = query.where(service == store.service_id)
    if search.reference:
        # The caller's reference, the one Notify got (what Notify's dashboard shows), or the row id.
        query = query.where(or_(C.reference == search.reference, C.notify_reference == search.reference,
                                C.id == search.reference))
    if search.status:
        query = query.where(C.status == search.status)
    if search.template:
        query = query.where(or_(C.template_name == search.template, C.template_id == search.template))
    if search.link:
        link_type, link_id = search.link.split(":", 1)
        query = query.where(C.link_type == link_type, C.link_id == link_id)
    if search.batch:
        query = query.where(C.batch_id == search.batch)
    if search.to_hashes:
        query = query.where(C.to_hash.in_(search.to_hashes))
    return query


def find_page(store: Store, search: Search, total: int | None = None) -> tuple[Sequence[RowMapping], int]:
    """One page of matching rows, newest first, and how many match in all (counted
    unless ``total`` is known)."""
    rows_query = (
        _where(select(*LIST_COLUMNS), store, search)
        .order_by(C.created_at.desc(), C.id.desc())
        .limit(PER_PAGE)
        .offset((search.page - 1) * PER_PAGE)
    )
    with store.db.connect() as conn:
        if total is None:
            total = int(conn.execute(_where(select(func.count()).select_from(outbox), store, search)).scalar_one())
        rows = conn.execute(rows_query).mappings().all()
    return rows, total
