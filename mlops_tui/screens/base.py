"""The frame every view shares (header, banner, footer) and its refresh loop.

The loop, Dolphie style: fetch in a worker → render only when the fetch succeeded → arm a one-shot
timer for the next fetch. A fetch never starts while another is running, and the timer does not
fetch while a modal is open, while the view is not the one shown, or while the backend is down
(the app's health check brings the view back when the backend answers again).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, Generic, TypeVar, cast

from textual.app import ComposeResult
from textual.binding import BindingType
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer

from ..client import AsyncClient, MlopsError
from ..formatting import safe_text
from ..keymap import bindings
from ..permissions import auth_hint
from ..widgets.banner import UnreachableBanner
from ..widgets.header import BackendState, StatusHeader

if TYPE_CHECKING:
    from ..app import MlopsApp

T = TypeVar("T")


class View(Screen[None], Generic[T]):
    """A console view: subclasses give `crumb`, `compose_body`, `fetch` and `render_data`."""

    BINDINGS: ClassVar[list[BindingType]] = bindings("views")
    RENDER_ON_RESIZE: ClassVar[bool] = False
    """Draw the last data again when the view is resized (views that cut or scale cells to its width)."""
    view_name: ClassVar[str] = ""
    """The name the command bar and the number keys know this view by (empty: not a top view)."""

    def __init__(self) -> None:
        super().__init__()
        self._fetching = False
        self._again = False
        self._timer: Timer | None = None
        self.loaded = False
        """True once a fetch succeeded and was rendered (tests and the bench wait for it)."""
        self.last_error: MlopsError | None = None
        self._shown: T | None = None
        """The data drawn last (drawn again on a resize when `RENDER_ON_RESIZE`)."""

    # -- what subclasses provide -------------------------------------------------------------
    @property
    def crumb(self) -> str:
        return self.view_name.title()

    def compose_body(self) -> ComposeResult:
        yield from ()

    async def fetch(self) -> T:
        raise NotImplementedError

    def render_data(self, data: T) -> None:
        raise NotImplementedError

    def refresh_seconds(self) -> float:
        return self.mlops.config.refresh_seconds

    def clear_filter(self) -> bool:
        """Clear an open or applied filter; return False when there was none (esc then goes back)."""
        return False

    # -- frame ---------------------------------------------------------------------------------
    @property
    def mlops(self) -> MlopsApp:
        return cast("MlopsApp", self.app)

    @property
    def client(self) -> AsyncClient:
        return self.mlops.client

    def compose(self) -> ComposeResult:
        yield StatusHeader(self.crumb)
        yield UnreachableBanner()
        yield from self.compose_body()
        yield Footer(compact=True, show_command_palette=False)

    def show_state(self, state: BackendState) -> None:
        self.query_one(StatusHeader).show_state(state)
        self.query_one(UnreachableBanner).show_state(state)

    def set_crumb(self, crumb: str) -> None:
        self.query_one(StatusHeader).set_crumb(crumb)

    def on_mount(self) -> None:
        self.show_state(self.mlops.backend_state)

    def on_screen_resume(self) -> None:
        self.show_state(self.mlops.backend_state)
        self.call_later(self._refresh_if_shown)

    def _refresh_if_shown(self) -> None:
        # a view pushed and covered at once (the overview under `mlops tui -e x`) fetches nothing
        if self.app.screen is self:
            self.request_refresh()

    def on_screen_suspend(self) -> None:
        self._cancel_timer()

    def on_resize(self) -> None:
        if self.RENDER_ON_RESIZE and self._shown is not None:
            self.call_after_refresh(self._render_again)

    def _render_again(self) -> None:
        if self._shown is not None:
            self.render_data(self._shown)

    # -- the refresh loop ----------------------------------------------------------------------
    def request_refresh(self) -> None:
        """Fetch now, or right after the fetch in flight ends (never two at once)."""
        if self._fetching:
            self._again = True
            return
        self._cancel_timer()
        self._fetching = True
        self.run_worker(self._cycle(), group="refresh", exit_on_error=False)

    async def _cycle(self) -> None:
        ok = False
        try:
            data = await self.fetch()
        except MlopsError as error:
            self.last_error = error
            self.on_fetch_error(error)
        else:
            self.last_error = None
            with self.app.batch_update():
                self.render_data(data)
            self._shown = data
            self.loaded = True
            ok = True
        finally:
            self._fetching = False
        if ok:
            self.mlops.report_fetch_ok()
        if self._again:
            self._again = False
            self.request_refresh()
        else:
            self._arm_timer()

    def on_fetch_error(self, error: MlopsError) -> None:
        """Unreachable → the banner (via the app); any other error → a notification (a refused token says
        what to do about it)."""
        if error.unreachable:
            self.mlops.report_unreachable(error)
        elif error.status in (401, 403) and error.field == "authorization":
            self.notify(safe_text(auth_hint(error.status, error.message)), title="not allowed", severity="error",
                        markup=False)
        else:
            self.notify(safe_text(error.message), title="backend error", severity="error", markup=False)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """An action the role may not do shows disabled in the footer (its key then says why: see
        `MlopsApp.run_action`). Views with rules of their own ask this first."""
        return None if self.mlops.refusal(action) is not None else True

    def _arm_timer(self) -> None:
        self._cancel_timer()
        if self.is_attached and self.app.screen is self:
            self._timer = self.set_timer(self.refresh_seconds(), self._tick)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None

    def _tick(self) -> None:
        self._timer = None
        if self.app.screen is not self:
            return  # a modal is open or another view is shown: resuming this view fetches again
        if self.mlops.backend_state.up is False:
            return  # the health check calls request_refresh when the backend is back
        self.request_refresh()

    # -- keys shared by every view --------------------------------------------------------------
    def action_escape(self) -> None:
        if not self.clear_filter():
            self.mlops.go_back()

    def action_refresh(self) -> None:
        self.request_refresh()
