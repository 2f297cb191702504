"""Admin-only controls: hidden from visitors who may not use them, and refused on the server too.

On a server listening on loopback every user is an admin and nothing changes. On a Space, or on any other
address, the controls inside :func:`admin_section` appear only for Hub users named in ``TRAVELBOT_ADMINS``,
signed in (or for everyone with ``TRAVELBOT_OPEN=1``); handlers wrapped in :func:`admin_only` check the same
thing on every call, so a request made without the page (the API, a crafted request) is refused as well.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import typing
from collections.abc import Callable, Iterator
from typing import Any, Optional

import gradio as gr

from travelbot.config import get_settings
from travelbot.hosting import admin_refusal, is_admin
from travelbot.ui.common import hub_username


def admin_only(handler: Callable[..., Any]) -> Callable[..., Any]:
    """An event handler that raises a readable error unless the caller may use admin controls.

    Gradio injects the signed-in user's profile as the wrapper's last positional argument.
    """
    signature = inspect.signature(handler)
    positional = [p for p in signature.parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    profile = inspect.Parameter("oauth_profile", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None,
                                annotation=Optional[gr.OAuthProfile])  # noqa: UP007 - gradio matches this form

    def check(args: tuple[Any, ...]) -> tuple[Any, ...]:
        *inputs, caller = args
        if not is_admin(hub_username(caller)):
            raise gr.Error(admin_refusal())
        return tuple(inputs)

    if inspect.isgeneratorfunction(handler):
        @functools.wraps(handler)
        def wrapper(*args: Any) -> Iterator[Any]:
            yield from handler(*check(args))
    else:
        @functools.wraps(handler)
        def wrapper(*args: Any) -> Any:
            return handler(*check(args))

    wrapper.__signature__ = signature.replace(parameters=[*positional, profile])
    try:
        hints = typing.get_type_hints(handler)
    except (NameError, TypeError):
        hints = {}
    # gradio reads the wrapper's own signature (``__signature__`` stops unwrapping) and resolved hints
    wrapper.__annotations__ = {**hints, "oauth_profile": Optional[gr.OAuthProfile]}  # noqa: UP007
    return wrapper


@contextlib.contextmanager
def admin_section(app: gr.Blocks, what: str) -> Iterator[gr.Column]:
    """Lay out controls only admins see on a hosted app; everyone else sees a sentence saying why."""
    settings = get_settings()
    restricted = not is_admin(None, settings)  # anonymous visitors may not use it
    reason = ("open to this Space's admins only (sign in with Hugging Face)" if settings.hosted
              else f"off for visitors of a server on {settings.host} (see TRAVELBOT_OPEN)")
    note = gr.Markdown(f"*{what} is {reason}.*", visible=restricted)
    with gr.Column(visible=not restricted) as column:
        yield column
    if restricted and settings.oauth_enabled:
        def visibility(oauth_profile: Optional[gr.OAuthProfile] = None) -> tuple[gr.Column, gr.Markdown]:  # noqa: UP007
            admin = is_admin(hub_username(oauth_profile))
            return gr.Column(visible=admin), gr.Markdown(visible=not admin)

        app.load(visibility, None, [column, note], api_visibility="private")
