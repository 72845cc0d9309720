"""The console's web application: pages, their live data, forms, and who may see what.

Roles: an *agent* sees only their own seat and tickets; a *shift leader* the
wallboard and every ticket; an *admin* the flows and the wallboard. A page a
role may not see answers 403. Every POST carries the session's form token
(CSRF); one without it, or with a wrong one, answers 403. The session cookie
is HttpOnly and SameSite=Strict. Pages take no inline script (CSP).
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import jinja2
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from ivr.console.charts import calls_per_hour, seat_bars
from ivr.console.desk import ConsoleDesk
from ivr.console.flow_editing import FlowFiles
from ivr.console.metrics import metrics_text
from ivr.console.words import Lang, word
from ivr.records.console_users import ConsoleUsers, Session
from ivr.records.reload_requests import SEAT_BREAKS, ReloadRequests

HERE = Path(__file__).parent
SESSION_COOKIE = "ivr_session"
SIGN_IN_COOKIE = "ivr_sign_in"  # the sign-in form's token, before there is a session
LANG_COOKIE = "ivr_lang"
HOME = {"agent": "/agent", "shift_leader": "/wallboard", "admin": "/admin"}
CSP = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
)


@dataclass
class ConsoleParts:
    desk: ConsoleDesk
    files: FlowFiles
    secure_cookies: bool = False
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)


class Forbidden(HTTPException):
    def __init__(self) -> None:
        super().__init__(403)


class SignInNeeded(Exception):
    pass


def make_app(parts: ConsoleParts) -> Starlette:
    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True)
    templates = Jinja2Templates(env=environment)
    register = parts.desk.register
    users = ConsoleUsers(register)
    reloads = ReloadRequests(register)

    def lang_of(request: Request) -> Lang:
        asked = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE)
        return "en" if asked == "en" else "zh"

    def session_of(request: Request) -> Session | None:
        token = request.cookies.get(SESSION_COOKIE)
        return None if not token else users.session(token, parts.clock())

    def need(request: Request, *roles: str) -> Session:
        session = session_of(request)
        if session is None:
            raise SignInNeeded
        if session.user.role not in roles:
            raise Forbidden
        return session

    async def form_of(request: Request, session: Session) -> dict[str, str]:
        form = await request.form()
        values = {k: v for k, v in form.items() if isinstance(v, str)}
        if not secrets.compare_digest(values.get("csrf", ""), session.csrf):
            raise Forbidden
        return values

    def page(request: Request, name: str, context: dict[str, object], status: int = 200) -> Response:
        lang = lang_of(request)
        other = "zh" if lang == "en" else "en"
        response: Response = templates.TemplateResponse(
            request,
            name,
            {
                "t": lambda key: word(key, lang),
                "lang": lang,
                "other_lang": other,
                **context,
            },
            status_code=status,
        )
        if "lang" in request.query_params:
            response.set_cookie(LANG_COOKIE, lang, httponly=True, samesite="strict")
        return response

    def set_session_cookie(response: Response, token: str) -> None:
        response.set_cookie(
            SESSION_COOKIE, token, httponly=True, samesite="strict", secure=parts.secure_cookies, path="/"
        )

    # -- signing in -----------------------------------------------------------

    async def sign_in_page(request: Request) -> Response:
        token = secrets.token_urlsafe(24)
        response = page(request, "sign_in.html", {"csrf": token, "error": None})
        response.set_cookie(SIGN_IN_COOKIE, token, httponly=True, samesite="strict", path="/sign-in")
        return response

    async def sign_in(request: Request) -> Response:
        form = await request.form()
        token = str(form.get("csrf", ""))
        cookie = request.cookies.get(SIGN_IN_COOKIE, "")
        if not token or not secrets.compare_digest(token, cookie):
            raise Forbidden
        name = str(form.get("name", "")).strip()
        password = str(form.get("password", ""))
        now = parts.clock()
        if users.locked_until(name, now) is not None:
            return page(request, "sign_in.html", {"csrf": token, "error": "locked", "name": name}, 429)
        user = users.check_password(name, password, now)
        if user is None:
            error = "locked" if users.locked_until(name, now) is not None else "wrong_password"
            return page(request, "sign_in.html", {"csrf": token, "error": error, "name": name}, 401)
        session_token, _ = users.open_session(user, now)
        response = RedirectResponse(HOME[user.role], status_code=303)
        set_session_cookie(response, session_token)
        response.delete_cookie(SIGN_IN_COOKIE, path="/sign-in")
        return response

    async def sign_out(request: Request) -> Response:
        session = need(request, "agent", "shift_leader", "admin")
        await form_of(request, session)
        token = request.cookies.get(SESSION_COOKIE)
        if token:
            users.close_session(token)
        response = RedirectResponse("/sign-in", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    async def home(request: Request) -> Response:
        session = session_of(request)
        if session is None:
            return RedirectResponse("/sign-in", status_code=303)
        return RedirectResponse(HOME[session.user.role], status_code=303)

    # -- the wallboard --------------------------------------------------------

    async def wallboard(request: Request) -> Response:
        session = need(request, "shift_leader", "admin")
        lang = lang_of(request)
        charts = [
            calls_per_hour(parts.desk.hourly_calls(), lang),
            seat_bars(parts.desk.seat_counts(), lang),
        ]
        return page(request, "wallboard.html", {"session": session, "me": session.user, "charts": charts})

    async def wallboard_data(request: Request) -> Response:
        session = need(request, "shift_leader", "admin")
        return JSONResponse(parts.desk.wallboard(session.user, lang_of(request)))

    async def assign_callback(request: Request) -> Response:
        session = need(request, "shift_leader", "admin")
        form = await form_of(request, session)
        seat = form.get("seat") or None
        known = parts.desk.seats is None or seat is None or any(s.id == seat for s in parts.desk.seats.seats)
        if not known or not parts.desk.callbacks.assign(request.path_params["call_id"], seat):
            raise HTTPException(404)
        return _back(request, "/wallboard")

    # -- an agent's seat ------------------------------------------------------

    async def agent(request: Request) -> Response:
        session = need(request, "agent")
        return page(request, "agent.html", {"session": session, "me": session.user})

    async def agent_data(request: Request) -> Response:
        session = need(request, "agent")
        return JSONResponse(parts.desk.agent(session.user, lang_of(request)))

    async def pause(request: Request) -> Response:
        session = need(request, "agent")
        form = await form_of(request, session)
        reason = form.get("reason", "").strip()
        board = parts.desk.board
        if board is None or not session.user.seat_id:
            raise HTTPException(404)
        if not reason:
            return JSONResponse({"error": word("reason_needed", lang_of(request))}, status_code=400)
        board.pause(session.user.seat_id, reason, parts.clock())
        reloads.add(session.user.name, SEAT_BREAKS, parts.clock())  # the line reads the breaks now
        return _back(request, "/agent")

    async def resume(request: Request) -> Response:
        session = need(request, "agent")
        await form_of(request, session)
        board = parts.desk.board
        if board is None or not session.user.seat_id:
            raise HTTPException(404)
        board.resume(session.user.seat_id, parts.clock())
        reloads.add(session.user.name, SEAT_BREAKS, parts.clock())
        return _back(request, "/agent")

    async def callback_result(request: Request) -> Response:
        session = need(request, "agent", "shift_leader")
        await form_of(request, session)
        call_id = request.path_params["call_id"]
        work = parts.desk.callbacks
        if session.user.role == "agent" and work.seat_of(call_id) != session.user.seat_id:
            raise Forbidden  # an agent reports only on their own tickets
        result = request.path_params["result"]
        if result not in ("called-back", "no-answer"):
            raise HTTPException(404)
        now = parts.clock()
        done = work.called_back(call_id, now) if result == "called-back" else work.no_answer(call_id, now)
        if not done:
            raise HTTPException(404)
        return _back(request, HOME[session.user.role])

    # -- flows ----------------------------------------------------------------

    async def admin(request: Request) -> Response:
        session = need(request, "admin")
        rows = []
        for f in parts.files.editable():
            result = parts.files.check_file(f)
            rows.append({"file": f, "problems": [str(p) for p in result.problems]})
        return page(request, "admin.html", {"session": session, "me": session.user, "rows": rows})

    async def edit_page(request: Request) -> Response:
        session = need(request, "admin")
        file = parts.files.find(request.query_params.get("file", ""))
        if file is None:
            raise HTTPException(404)
        return page(
            request,
            "edit.html",
            {
                "session": session,
                "me": session.user,
                "file": file,
                "text": parts.files.read(file),
                "problems": [str(p) for p in parts.files.check_file(file).problems],
                "result": None,
            },
        )

    async def save(request: Request) -> Response:
        session = need(request, "admin")
        form = await form_of(request, session)
        file = parts.files.find(form.get("file", ""))
        if file is None:
            raise HTTPException(404)
        text = form.get("text", "").replace("\r\n", "\n")
        problems = parts.files.save(file, text)
        if not problems:
            reloads.add(session.user.name, file.relative, parts.clock())
        return page(
            request,
            "edit.html",
            {
                "session": session,
                "me": session.user,
                "file": file,
                "text": text,
                "problems": [str(p) for p in problems],
                "result": "refused" if problems else "saved",
            },
            status=422 if problems else 200,
        )

    async def picture(request: Request) -> Response:
        need(request, "admin")
        file = parts.files.find(request.query_params.get("file", ""))
        if file is None or file.kind != "flow":
            raise HTTPException(404)
        svg = parts.files.picture(file)
        if svg is None:
            raise HTTPException(409)
        return Response(
            svg, media_type="image/svg+xml", headers={"Content-Security-Policy": "script-src 'none'"}
        )

    async def metrics(request: Request) -> Response:
        body, content_type = metrics_text(parts.desk)
        return Response(body, media_type=content_type)

    # -- errors ---------------------------------------------------------------

    async def on_sign_in_needed(request: Request, exc: Exception) -> Response:
        if request.url.path.endswith(".json") or request.method == "POST":
            return JSONResponse({"error": "sign in"}, status_code=401)
        return RedirectResponse("/sign-in", status_code=303)

    async def on_http_error(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        key = {403: "forbidden"}.get(status)
        message = word(key, lang_of(request)) if key else str(status)
        session = session_of(request)
        return page(
            request,
            "error.html",
            {
                "status": status,
                "message": message,
                "me": session.user if session else None,
                "session": session,
            },
            status,
        )

    async def security_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    app = Starlette(
        routes=[
            Route("/", home),
            Route("/sign-in", sign_in_page, methods=["GET"]),
            Route("/sign-in", sign_in, methods=["POST"]),
            Route("/sign-out", sign_out, methods=["POST"]),
            Route("/wallboard", wallboard),
            Route("/wallboard.json", wallboard_data),
            Route("/callbacks/{call_id}/assign", assign_callback, methods=["POST"]),
            Route("/callbacks/{call_id}/{result:str}", callback_result, methods=["POST"]),
            Route("/agent", agent),
            Route("/agent.json", agent_data),
            Route("/agent/pause", pause, methods=["POST"]),
            Route("/agent/resume", resume, methods=["POST"]),
            Route("/admin", admin),
            Route("/admin/edit", edit_page),
            Route("/admin/save", save, methods=["POST"]),
            Route("/admin/picture.svg", picture),
            Route("/metrics", metrics),
            Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
        ],
        exception_handlers={SignInNeeded: on_sign_in_needed, HTTPException: on_http_error},
    )
    app.add_middleware(BaseHTTPMiddleware, dispatch=security_headers)
    return app


def _back(request: Request, default: str) -> Response:
    """A form posted by the page's script gets 204; a plain form goes back to its page."""
    if request.headers.get("x-requested-with") == "fetch":
        return Response(status_code=204)
    return RedirectResponse(default, status_code=303)
