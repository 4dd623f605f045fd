"""`MlopsApp`: the Textual console. The CLI and the tests build it the same way:

    MlopsApp(client=AsyncClient(url), config=load_config())

It owns the navigation (a stack of views with the overview at the root), the backend's health
(checked in a worker on a one-shot timer, faster while the backend is down; each check also counts the
open alerts the header shows on every view) and the keymap.
"""
from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import ClassVar

from textual.actions import ActionParseResult
from textual.actions import parse as parse_action
from textual.app import App, SystemCommand
from textual.binding import BindingType
from textual.command import Provider
from textual.dom import DOMNode
from textual.screen import Screen
from textual.timer import Timer

from .client import AsyncClient, MlopsError
from .config import TuiConfig
from .contract.auth import WhoAmI
from .formatting import Clock, safe_text, system_clock
from .hangup import guard_terminal
from .keymap import bindings
from .permissions import auth_hint, refusal
from .screens import registry
from .widgets.header import BackendState


def _console_search() -> type[Provider]:
    from .screens.palette import ConsoleSearch  # loads with the palette, not at startup
    return ConsoleSearch


class MlopsApp(App[int]):
    """The console. `client` is the typed async client; `clock` drives the times shown (tests fix it)."""

    CSS_PATH = "app.tcss"
    TITLE = "mlops"
    BINDINGS: ClassVar[list[BindingType]] = bindings("everywhere")
    COMMANDS = App.COMMANDS | {_console_search}

    def __init__(self, client: AsyncClient, config: TuiConfig | None = None, clock: Clock | None = None,
                 start: str | None = None, watch_health: bool = True) -> None:
        """`start` is a command-bar line to open first, e.g. `runs my-experiment`."""
        super().__init__()
        self.client = client
        self.config = config or TuiConfig()
        self.clock: Clock = clock or system_clock
        self.start = start
        self.watch_health = watch_health
        self.backend_state = BackendState(url=client.url, retry_seconds=self.config.retry_seconds)
        self.health_checks = 0
        self._health_timer: Timer | None = None
        self._checking = False
        self._told_auth = False
        self.set_keymap(self.config.keys)

    # -- startup and shutdown ---------------------------------------------------------------------
    def on_mount(self) -> None:
        if self.config.theme and self.config.theme in self.available_themes:
            self.theme = self.config.theme
        if not (self.start and self.run_command(self.start)):
            self.push_screen(registry.overview())
        if self.watch_health:
            self.check_health()
        if not self.is_headless:
            self._watch_terminal()

    def _watch_terminal(self) -> None:
        """Exit when the terminal goes away (SSH dropped): on SIGHUP, or when the tty stops answering;
        a clean exit that stalls on the dead terminal ends hard after a short grace (see hangup.py)."""
        guard_terminal(asyncio.get_running_loop(), self.exit)

    # -- backend state ------------------------------------------------------------------------------
    def _publish(self, state: BackendState) -> None:
        self.backend_state = state
        from .screens.base import View

        for screen in self.screen_stack:
            if isinstance(screen, View) and screen.is_mounted:
                screen.show_state(state)

    def report_fetch_ok(self) -> None:
        """A view fetched and rendered data: the backend is up and the data is fresh."""
        was_down = self.backend_state.up is False
        self._publish(replace(self.backend_state, up=True, error=None, last_refresh=self.clock()))
        if was_down:
            self._arm_health(self.config.health_seconds)

    def report_unreachable(self, error: MlopsError) -> None:
        """A call could not reach the backend: show the banner and retry on the short timer."""
        if self.backend_state.up is not False:
            self._publish(replace(self.backend_state, up=False, error=error.message))
            if self.watch_health:
                self._arm_health(self.config.retry_seconds)

    def check_health(self) -> None:
        if self._checking:
            return
        self._checking = True
        self.run_worker(self._health_cycle(), group="health", exit_on_error=False)

    async def _health_cycle(self) -> None:
        recovered = False
        try:
            await self.client.health()
        except MlopsError as error:
            self.report_unreachable(error)
        else:
            recovered = self.backend_state.up is False
            if self.backend_state.up is not True:
                self._publish(replace(self.backend_state, up=True, error=None))
            if recovered or self.backend_state.who is None:
                await self._ask_who()
            await self._count_alerts()
        finally:
            self._checking = False
            self.health_checks += 1
        if recovered:
            from .screens.base import View

            current = self.screen
            if isinstance(current, View):
                current.request_refresh()
        up = self.backend_state.up is not False
        self._arm_health(self.config.health_seconds if up else self.config.retry_seconds)

    async def _count_alerts(self) -> None:
        """Fetch the open alerts' counts for the header; a backend without alerts (404) shows none."""
        try:
            summary = await self.client.alert_summary()
        except MlopsError as error:
            if error.unreachable:
                self.report_unreachable(error)
            elif error.status == 404 and self.backend_state.alerts is not None:
                self._publish(replace(self.backend_state, alerts=None))
            return
        if summary != self.backend_state.alerts:
            self._publish(replace(self.backend_state, alerts=summary))

    async def _ask_who(self) -> None:
        """Who the console acts as, for the header and the role rules (at start and after a reconnect:
        the server may have come back with auth turned on, or the token revoked)."""
        try:
            who: WhoAmI | None = await self.client.whoami()
        except MlopsError as error:
            if error.unreachable:
                self.report_unreachable(error)
                return
            who = None
            if error.status in (401, 403) and not self._told_auth:
                self._told_auth = True
                self.notify(safe_text(auth_hint(error.status, error.message)), title="token", severity="error",
                            markup=False, timeout=30)
        if who != self.backend_state.who:
            self._publish(replace(self.backend_state, who=who))
            from .screens.base import View

            if isinstance(self.screen, View):
                self.screen.refresh_bindings()  # the footer shows what this role may do

    def refusal(self, action: str) -> str | None:
        """Why the console will not run `action` for who it acts as (None: it will)."""
        return refusal(self.backend_state.who, action)

    async def run_action(self, action: str | ActionParseResult, default_namespace: DOMNode | None = None,
                         namespaces: Mapping[str, DOMNode] | None = None) -> bool:
        """A key for an action the role may not do says why (naming the role it needs) instead of sending
        a request the backend would refuse."""
        name = action[1] if isinstance(action, tuple) else parse_action(action)[1]
        why = self.refusal(name)
        if why is not None:
            self.notify(safe_text(why), title="not allowed", severity="warning", markup=False)
            return True
        return await super().run_action(action, default_namespace, namespaces)

    def recount_alerts(self) -> None:
        """Count the open alerts again now (an alert was acknowledged or resolved from the console)."""
        self.run_worker(self._count_alerts(), group="alerts-count", exclusive=True, exit_on_error=False)

    def _arm_health(self, seconds: float) -> None:
        if self._health_timer is not None:
            self._health_timer.stop()
        self._health_timer = self.set_timer(seconds, self.check_health)

    # -- navigation ---------------------------------------------------------------------------------
    def _pop_to_root(self) -> None:
        while len(self.screen_stack) > 2:
            self.pop_screen()

    def goto(self, name: str, arg: str | None = None) -> None:
        """Jump to a top-level view: the stack becomes overview → that view."""
        spec = registry.find(name)
        if spec is None:
            known = ", ".join(f":{n}" for n in registry.VIEWS)
            raise ValueError(f"no view called {name!r}; try {known}")
        screen = spec.build(arg)
        self._pop_to_root()
        root = self.screen_stack[1] if len(self.screen_stack) > 1 else None
        if root is None:
            self.push_screen(screen)
        elif spec.name == "overview":
            if not isinstance(root, self._overview_class()):
                self.switch_screen(screen)
        elif isinstance(root, self._overview_class()):
            self.push_screen(screen)
        else:
            self.switch_screen(screen)  # opened with `-e`: the start view sits at the root

    @staticmethod
    def _overview_class() -> type[Screen[None]]:
        from .screens.overview import OverviewScreen
        return OverviewScreen

    def run_command(self, line: str) -> bool:
        """Run a command-bar line (`runs exp`, `experiments`, `quit`, `help`); False if it failed.

        A view whose argument names something (`:run ID`, `:jobs ID`, `:runs EXP`, `:datasets D@N`)
        opens only once the backend found it; otherwise one notice says why and the console stays
        where it was (at startup: the overview)."""
        words = line.strip().lstrip(":").split(maxsplit=1)
        if not words:
            return False
        name, arg = words[0], (words[1].strip() if len(words) > 1 else None)
        if name in ("q", "quit", "exit"):
            self.exit(0)
            return True
        if name in ("help", "h", "?"):
            self.action_help()
            return True
        spec = registry.find(name)
        if spec is not None and spec.check is not None and arg:
            self.run_worker(self._open_checked(spec, arg), group="command", exit_on_error=False)
            return True
        try:
            self.goto(name, arg)
        except ValueError as error:
            self._command_failed(str(error))
            return False
        return True

    async def _open_checked(self, spec: registry.ViewSpec, arg: str) -> None:
        assert spec.check is not None
        try:
            await spec.check(self.client, arg)
            self.goto(spec.name, arg)
        except ValueError as error:
            self._command_failed(str(error))
        except MlopsError as error:
            if error.unreachable:
                self.report_unreachable(error)
            self._command_failed(safe_text(error.message))

    def _command_failed(self, message: str) -> None:
        self.notify(message, title="command", severity="error", markup=False)
        if len(self.screen_stack) < 2:  # at startup, nothing to stay on: the overview
            self.push_screen(registry.overview())

    # -- actions bound to keys ------------------------------------------------------------------
    async def action_back(self) -> None:
        """Back one view; at the root, quit (from a start view opened with `-e`, the overview first).
        Async like the `App.action_back` it overrides."""
        self.go_back()

    def go_back(self) -> None:
        """What `action_back` does, for callers that are not actions (a view's `esc`)."""
        if len(self.screen_stack) > 2:
            self.pop_screen()
        elif len(self.screen_stack) == 2 and not isinstance(self.screen, self._overview_class()):
            self.switch_screen(registry.overview())
        else:
            self.exit(0)

    def action_view(self, name: str) -> None:
        self.run_command(name)

    def action_refresh(self) -> None:
        from .screens.base import View

        if isinstance(self.screen, View):
            self.screen.request_refresh()
        self.check_health()

    def action_help(self) -> None:
        from .screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(registry.help_screen(self.config.keys))

    def action_command_bar(self) -> None:
        from .screens.command import CommandBar

        if isinstance(self.screen, CommandBar):
            return

        def done(line: str | None) -> None:
            if line:
                self.run_command(line)

        self.push_screen(CommandBar(), done)

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for spec in registry.VIEWS.values():
            if spec.needs_arg:
                continue
            yield SystemCommand(f"Go to {spec.name}", spec.description,
                                lambda name=spec.name: self.run_command(name))  # type: ignore[misc]
        yield SystemCommand("Help: keys", "Every key binding and its id", self.action_help)
        yield SystemCommand("Refresh", "Fetch the current view again now", self.action_refresh)
