"""THE CAPTION TEMPLATE TABLE: every fixed sentence the rewriters add, in one place.

Seedance trains on dense captions (static description: subjects, appearance, setting, style;
dynamic description: action and camera) and rewrites user prompts into that style at inference.
A training issue that settles the caption style should edit only this file, so the template
rewriter's output and the LM rewriters' instructions stay aligned with what the DiT was
trained on.
"""

from __future__ import annotations

from dataclasses import dataclass

LANGUAGES = ("en", "zh")
TASKS = ("t2v", "i2v")


@dataclass(frozen=True)
class CaptionTemplate:
    """Sentences around the user's (normalised) prompt. I2V leads with the motion because the
    first frame already fixes the static content; T2V has to state it."""

    lead: tuple[str, ...]
    tail: tuple[str, ...]


# =============================== CAPTION TEMPLATES (edit here) ===============================
TEMPLATES: dict[tuple[str, str], CaptionTemplate] = {
    ("t2v", "en"): CaptionTemplate(
        lead=(),
        tail=(
            "The scene is a single continuous shot.",
            "The subject moves smoothly and naturally, and its appearance stays consistent throughout.",
            "The lighting is natural and the image is sharp and detailed, in a realistic style.",
        ),
    ),
    ("i2v", "en"): CaptionTemplate(
        lead=("The subject in the first frame starts to move.",),
        tail=(
            "The motion is smooth and natural and continues from the first frame in a single continuous shot.",
            "The appearance, background and style stay the same as in the first frame.",
        ),
    ),
    ("t2v", "zh"): CaptionTemplate(
        lead=(),
        tail=(
            "画面为一个连续镜头。",
            "主体动作自然流畅，外观始终保持一致。",
            "光线自然，画面清晰细腻，风格写实。",
        ),
    ),
    ("i2v", "zh"): CaptionTemplate(
        lead=("首帧中的主体开始运动。",),
        tail=(
            "动作自然流畅，从首帧开始连续拍摄，为一个连续镜头。",
            "主体的外观、背景和风格与首帧保持一致。",
        ),
    ),
}

# Appended by every backend when the request asks for a fixed camera.
CAMERA_FIXED: dict[str, str] = {"en": "The camera is fixed.", "zh": "镜头固定。"}

# How sentences are joined: English separates them with a space, Chinese does not.
SENTENCE_JOINER: dict[str, str] = {"en": " ", "zh": ""}

# Terminal punctuation added to an unfinished sentence.
FULL_STOP: dict[str, str] = {"en": ".", "zh": "。"}

# Request boilerplate removed from the start of a prompt (regexes, matched case-insensitively):
# it describes the request, not the video, and has no place in a caption.
PROMPT_PREFIXES: dict[str, tuple[str, ...]] = {
    "en": (
        r"(please\s+)?(generate|create|make|render)\s+(me\s+)?(a|an)\s+(short\s+)?(video|clip)\s+(of|showing|where)\s+",
        r"(a|an)\s+(short\s+)?(video|clip)\s+(of|showing)\s+",
    ),
    "zh": (
        r"(请)?(帮我)?(生成|制作)(一段|一个|一条)?(视频)?[：:，,\s]*",
        r"(一段|一个|一条)视频[：:，,\s]*",
    ),
}

# ================================ LM INSTRUCTIONS (edit here) ================================
# Used by the transformers and OpenAI backends: the system message (chat) or "Task:" line.
INSTRUCTIONS: dict[str, str] = {
    "t2v": (
        "Rewrite the user's short video prompt as one dense, detailed video caption. Describe the "
        "subjects and their appearance, their actions and motion, the setting, the lighting, the "
        "visual style and the camera movement. Keep every detail the user gave and do not "
        "contradict it. Answer with the caption only."
    ),
    "i2v": (
        "The user gives the first frame of a video as an image, plus a short prompt. Rewrite the "
        "prompt as one dense video caption that describes the motion: what the subjects in the "
        "first frame do, how they move, and how the camera moves. Do not re-describe the static "
        "content of the first frame, which is already given. Answer with the caption only."
    ),
}

LANGUAGE_HINT: dict[str, str] = {
    "en": "Write the caption in English.",
    "zh": "Write the caption in Chinese (简体中文).",
}

# Plain-text prompt for causal LMs without a chat template; the model continues after "Caption:".
PLAIN_PROMPT = "Task: {instruction} {language_hint}\nPrompt: {prompt}\nCaption:"
