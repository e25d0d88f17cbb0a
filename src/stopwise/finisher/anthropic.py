"""The finisher's strategy for Anthropic Messages.

The caller sees one message: the first round's envelope (id, model and every other field, known
or not), text that goes on in the same content block across rounds, usage summed field by field
over every round, the last round's stop fields.

A stream is the upstream's own events, in their order, as they arrive: a round that needs no
finishing goes out unchanged (and a ``stopwise`` event after ``message_stop``, which SDKs skip).
What the round's stop reason decides is held back until it is known (:class:`~.outbox.Outbox`):
a client tool call (a cut one is asked for again and must never be shown), a thinking block (a
cut one is never handed back), a text block's ``content_block_stop`` (the next round may go on
in it), ``message_delta`` and ``message_stop``. Text itself is never held: the seam is reconciled
at the head of the next round (:mod:`.join`). A constrained answer (a forced tool, an output
format) is held whole, because a cut one is asked for again from the start.

Later rounds are rewritten into the first: their ``message_start`` dropped, their first text
block merged into the answer's open one, block indices continued. A relay that restarts the
stream mid-round (a second ``message_start``) is replayed against what was shown, so nothing is
shown twice.
"""

from __future__ import annotations

from .anthropic_answer import AnthropicAnswer
from .anthropic_plans import AnthropicPlans
from .anthropic_stream import AnthropicStream

__all__ = ["AnthropicDialect"]


class AnthropicDialect(AnthropicStream, AnthropicPlans, AnthropicAnswer):
    """The strategy: its state and each round's (:mod:`.anthropic_state`), the next requests
    (:mod:`.anthropic_plans`), the stream rewriting (:mod:`.anthropic_stream`), the answer and
    how it is written out (:mod:`.anthropic_answer`)."""

    name = "anthropic"
