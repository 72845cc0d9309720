"""The console's words: Chinese first, English with ``?lang=en``.

Every word on a page comes from ``WORDS`` (key → Chinese, English), so a page
is never half in one language. Intents are shown as the words a person would
use (订房, 投诉), states as the desk says them.
"""

from __future__ import annotations

from typing import Literal

from ivr.seats.whisper import intent_label

Lang = Literal["zh", "en"]

WORDS: dict[str, tuple[str, str]] = {
    "console": ("前台控制台", "Front-desk console"),
    "sign_in": ("登录", "Sign in"),
    "sign_out": ("退出", "Sign out"),
    "name": ("用户名", "Name"),
    "person": ("姓名", "Name"),
    "password": ("密码", "Password"),
    "wrong_password": ("用户名或密码不对", "Wrong name or password"),
    "locked": ("错误次数太多，请一分钟后再试", "Too many wrong passwords: try again in a minute"),
    "forbidden": ("您没有权限查看此页", "You may not see this page"),
    "bad_form": ("表单已过期，请刷新后重试", "The form has expired: reload the page and try again"),
    "wallboard": ("值班长看板", "Shift leader wallboard"),
    "agent_page": ("座席", "Seat"),
    "admin": ("流程管理", "Flows"),
    "waiting": ("排队来电", "Callers waiting"),
    "position": ("位置", "Position"),
    "caller": ("来电号码", "Caller"),
    "wait": ("等待", "Wait"),
    "in_progress": ("进行中的通话", "Calls in progress"),
    "step": ("步骤", "Step"),
    "state": ("状态", "State"),
    "seat": ("座席", "Seat"),
    "seats": ("座席状态", "Seats"),
    "since": ("持续", "Time in state"),
    "reason": ("原因", "Reason"),
    "figures": ("今日数据", "Today"),
    "service_level": ("服务水平", "Service level"),
    "third_ring": ("三声内接听", "Answered before the third ring"),
    "abandoned": ("放弃率", "Abandoned"),
    "mean_wait": ("平均等待", "Average wait"),
    "calls_today": ("今日来电", "Calls today"),
    "chart_calls_per_hour": ("今日每小时来电", "Calls per hour today"),
    "chart_seats": ("今日各座席接听与未接", "Answered and missed by seat today"),
    "handled": ("接听", "Handled"),
    "no_answer": ("未接", "No answer"),
    "mean_talk": ("平均通话", "Average talk"),
    "callbacks": ("待回电", "Callbacks"),
    "number": ("号码", "Number"),
    "created": ("时间", "Taken at"),
    "attempts": ("已拨", "Tries"),
    "assign": ("分配", "Assign"),
    "unassigned": ("未分配", "Unassigned"),
    "called_back": ("已回电", "Called back"),
    "no_answer_button": ("无人接听", "No answer"),
    "pause": ("暂停服务", "Pause"),
    "resume": ("恢复服务", "Resume"),
    "pause_reason": ("暂停原因（必填）", "Reason (required)"),
    "reason_needed": ("请填写暂停原因", "A break needs a reason"),
    "my_seat": ("我的座席", "My seat"),
    "incoming": ("来电", "Incoming call"),
    "intent": ("事由", "Wants"),
    "heard": ("客户说", "Caller said"),
    "path": ("经过", "Path"),
    "earlier_today": ("今日来电记录", "Earlier calls today"),
    "none": ("无", "None"),
    "no_call": ("当前没有来电", "No call for you now"),
    "flows": ("流程", "Flows"),
    "check": ("检查", "Check"),
    "check_ok": ("检查通过", "No problems"),
    "problems": ("问题", "Problems"),
    "edit": ("编辑", "Edit"),
    "save": ("保存", "Save"),
    "saved": ("已保存，线路将在一秒内启用新流程", "Saved: the line takes it for new calls within a second"),
    "refused": (
        "未保存：文件有问题，磁盘上的文件未改动",
        "Not saved: the file has problems; the file on disk is unchanged",
    ),
    "picture": ("流程图", "Picture"),
    "prompts": ("提示语", "Prompts"),
    "break_long": ("暂停超过30分钟", "On a break for over 30 minutes"),
    "updated": ("更新于", "Updated"),
    "lang_other": ("English", "中文"),
    "no_seats": ("未配置座席文件", "No seats file configured"),
}

STATE_WORDS: dict[str, tuple[str, str]] = {
    # calls
    "ringing": ("振铃", "ringing"),
    "in_flow": ("机器人接待", "with the bot"),
    "waiting": ("排队", "waiting"),
    "with_seat": ("通话中", "with a seat"),
    # seats
    "available": ("空闲", "available"),
    "talking": ("通话中", "talking"),
    "wrap_up": ("话后整理", "wrap-up"),
    "no_answer": ("未接暂停", "no answer (paused a while)"),
    "on_break": ("暂停服务", "on a break"),
}

REASON_WORDS: dict[str, tuple[str, str]] = {
    # why a callback was promised
    "max_wait": ("等待超时", "waited too long"),
    "after_hours": ("非工作时间", "after hours"),
    "no_seat": ("无空闲座席", "no seat free"),
    "fault": ("系统故障", "a fault"),
    "complaint": ("投诉", "a complaint"),
    "person": ("找人", "asked for a person"),
    "question": ("待查问题", "a question to look into"),
    # how a call ended
    "served": ("已办结", "served"),
    "transferred": ("转人工", "put through"),
    "callback": ("待回电", "callback"),
    "abandoned": ("来电挂断", "caller hung up"),
    "silent-call hang-up": ("无声挂断", "silent call"),
    "noisy-line hang-up": ("噪音挂断", "noisy line"),
    "declined": ("已婉拒", "declined"),
    "failed": ("故障", "fault"),
    "line closed": ("线路关闭", "line closed"),
    # how a callback went
    "no_answer": ("无人接听", "no answer"),
    "called_back": ("已回电", "called back"),
}

# intents the shipped flows' whispers have no label for, but a page may show
INTENT_WORDS: dict[str, str] = {
    "hours": "营业时间",
    "price": "价格",
    "operator": "转人工",
}


def word(key: str, lang: Lang) -> str:
    zh, en = WORDS[key]
    return zh if lang == "zh" else en


def state_word(state: str, lang: Lang) -> str:
    zh, en = STATE_WORDS.get(state, (state, state))
    return zh if lang == "zh" else en


def intent_word(intent: str | None) -> str:
    """An intent as Chinese words (订房); an intent without words is shown as its name."""
    if not intent:
        return ""
    return intent_label(intent) or INTENT_WORDS.get(intent, intent)


def reason_word(reason: str, lang: Lang) -> str:
    """A callback's reason, a call's outcome or a callback's result in words; unknown ones as they are."""
    zh, en = REASON_WORDS.get(reason, (reason, reason))
    return zh if lang == "zh" else en
