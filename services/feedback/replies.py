"""What we answer a patient, by language: short, discreet (no treatment named), kind."""

from __future__ import annotations

_TEXTS: dict[str, dict[str, str]] = {
    "zh-CN": {
        "unknown": "您好，未能识别您的号码，请联系您的门诊。",
        "opt_out": "已退订，您将不再收到提醒。回复“订阅”可恢复。",
        "opt_in": "已恢复订阅，提醒将继续发送。回复“退订”可停止。",
        "help": "如需帮助请致电门诊：{phone}。回复1-5为课程评分，回复“退订”停止提醒。",
        "rating": "谢谢您的评分！",
        "number": "请回复1到5之间的数字为课程评分。",
        "record": "已收到，您的记录稍后发给您。",
        "need": "已收到您的留言，门诊工作人员会尽快联系您。",
        "urgent": "如有危险请立即拨打120，或马上致电门诊：{phone}。我们已通知工作人员。",
        "subscribe": "欢迎关注！回复“帮助”了解更多。",
    },
    "en": {
        "unknown": "Hello, we could not match your number. Please contact your clinic.",
        "opt_out": "You are unsubscribed and will get no more reminders. Reply START to resume.",
        "opt_in": "You are subscribed again. Reply STOP to stop reminders.",
        "help": "For help call your clinic: {phone}. Reply 1-5 to rate a lesson, STOP to stop.",
        "rating": "Thank you for your rating!",
        "number": "Please reply with a number from 1 to 5 to rate a lesson.",
        "record": "Thank you, your record will be sent to you shortly.",
        "need": "Thank you, we got your message. Clinic staff will contact you soon.",
        "urgent": "If you are in danger call 120 now, or call your clinic now: {phone}. "
        "We have told the staff.",
        "subscribe": "Welcome! Reply HELP to learn more.",
    },
}


def reply_text(kind: str, language: str, phone: str = "") -> str:
    texts = _TEXTS.get(language, _TEXTS["zh-CN"])
    return texts[kind].format(phone=phone or "120")


def unknown_sender_text() -> str:
    """We do not know the sender's language: both, Chinese first."""
    return f"{_TEXTS['zh-CN']['unknown']} {_TEXTS['en']['unknown']}"
