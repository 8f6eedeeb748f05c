"""SMPP 3.4 command_status values and what they mean for a submission.

The mapping (documented in docs/channels/smpp.md):

* ``ESME_ROK`` -> ACCEPTED;
* ``ESME_RTHROTTLED`` -> THROTTLED (the connection also pauses, see the channel);
* ``ESME_RMSGQFUL``, ``ESME_RSYSERR``, ``ESME_RX_T_APPN``, ``ESME_RINVBNDSTS`` ->
  TEMPORARY: the SMSC did not take the message and may take it later;
* everything else (bad addresses, bad parameters, ``ESME_RX_P_APPN``/``R_APPN``,
  ``ESME_RSUBMITFAIL``, unknown codes) -> PERMANENT: resending the same PDU cannot
  succeed.

A ``generic_nack`` answering a submit_sm means the SMSC did not process it; its status
is mapped the same way (a zero status in a nack is read as TEMPORARY).
"""

from __future__ import annotations

from enum import IntEnum

from clarion.channels.base import Outcome


class Status(IntEnum):
    ESME_ROK = 0x00
    ESME_RINVMSGLEN = 0x01
    ESME_RINVCMDLEN = 0x02
    ESME_RINVCMDID = 0x03
    ESME_RINVBNDSTS = 0x04
    ESME_RALYBND = 0x05
    ESME_RINVPRTFLG = 0x06
    ESME_RINVREGDLVFLG = 0x07
    ESME_RSYSERR = 0x08
    ESME_RINVSRCADR = 0x0A
    ESME_RINVDSTADR = 0x0B
    ESME_RINVMSGID = 0x0C
    ESME_RBINDFAIL = 0x0D
    ESME_RINVPASWD = 0x0E
    ESME_RINVSYSID = 0x0F
    ESME_RCANCELFAIL = 0x11
    ESME_RREPLACEFAIL = 0x13
    ESME_RMSGQFUL = 0x14
    ESME_RINVSERTYP = 0x15
    ESME_RINVNUMDESTS = 0x33
    ESME_RINVDLNAME = 0x34
    ESME_RINVDESTFLAG = 0x40
    ESME_RINVSUBREP = 0x42
    ESME_RINVESMCLASS = 0x43
    ESME_RCNTSUBDL = 0x44
    ESME_RSUBMITFAIL = 0x45
    ESME_RINVSRCTON = 0x48
    ESME_RINVSRCNPI = 0x49
    ESME_RINVDSTTON = 0x50
    ESME_RINVDSTNPI = 0x51
    ESME_RINVSYSTYP = 0x53
    ESME_RINVREPFLAG = 0x54
    ESME_RINVNUMMSGS = 0x55
    ESME_RTHROTTLED = 0x58
    ESME_RINVSCHED = 0x61
    ESME_RINVEXPIRY = 0x62
    ESME_RINVDFTMSGID = 0x63
    ESME_RX_T_APPN = 0x64
    ESME_RX_P_APPN = 0x65
    ESME_RX_R_APPN = 0x66
    ESME_RQUERYFAIL = 0x67
    ESME_RINVOPTPARSTREAM = 0xC0
    ESME_ROPTPARNOTALLWD = 0xC1
    ESME_RINVPARLEN = 0xC2
    ESME_RMISSINGOPTPARAM = 0xC3
    ESME_RINVOPTPARAMVAL = 0xC4
    ESME_RDELIVERYFAILURE = 0xFE
    ESME_RUNKNOWNERR = 0xFF


TEMPORARY_STATUSES: frozenset[int] = frozenset(
    {Status.ESME_RMSGQFUL, Status.ESME_RSYSERR, Status.ESME_RX_T_APPN, Status.ESME_RINVBNDSTS}
)


def status_name(status: int) -> str:
    try:
        return Status(status).name
    except ValueError:
        return f"0x{status:08X}"


def outcome(status: int, *, nack: bool = False) -> Outcome:
    """What a submit_sm_resp (or a generic_nack, ``nack=True``) status means."""
    if status == Status.ESME_ROK:
        return Outcome.TEMPORARY if nack else Outcome.ACCEPTED
    if status == Status.ESME_RTHROTTLED:
        return Outcome.THROTTLED
    if status in TEMPORARY_STATUSES:
        return Outcome.TEMPORARY
    return Outcome.PERMANENT
