"""Versioned prompts: files `prompts/<agent>/<step>.md.j2` synced into immutable `prompt_versions` rows.

File syntax (see prompts/README.md):

    ---
    id: nps_followup.draft        # "<agent>.<step>", must match the file's place
    version: 1                    # bump when the text changes
    description: ...
    purpose: drafting             # model purpose (core.llm.factory.PURPOSES)
    inputs: [contact_name, comment]
    ---
    {% block system %}...{% endblock %}
    {% block user %}...{{ comment | fence("customer comment") }}...{% endblock %}

An optional sibling `<step>.fallback.md.j2` (plain Jinja, same inputs) is the deterministic text used when the
model's output fails the guards. Sync stores one text per version: the main file with the fallback appended as
`{% block fallback %}...{% endblock %}`, so a version names its fallback too; admins edit that whole text.
Templates run in Jinja's sandbox with StrictUndefined.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from jinja2 import StrictUndefined, Template, TemplateSyntaxError, UndefinedError, meta
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError
from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from sqlalchemy.orm import Session

from core.errors import Conflict, InvalidInput, NotFound
from core.llm.factory import PURPOSES
from core.models import PromptVersion
from core.repositories import prompts as repo
from core.repositories.events import add_audit
from prompts.filters import FILTERS

SUFFIX = ".md.j2"
FALLBACK_SUFFIX = ".fallback.md.j2"
LABELS = ("production", "staging")
_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?\n)---[ \t]*\n", re.S)
_VERSION_LINE = re.compile(r"^version:.*$", re.M)
_FALLBACK_BLOCK = re.compile(r"\{%-?\s*block\s+fallback\s*-?%\}(.*?)\{%-?\s*endblock(?:\s+fallback)?\s*-?%\}", re.S)
_PROMPT_ID = re.compile(r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def root() -> Path:
    """The prompt files shipped with the package (package data; the repo folder under an editable install)."""
    return Path(__file__).resolve().parent


@lru_cache(maxsize=1)
def _env() -> ImmutableSandboxedEnvironment:
    env = ImmutableSandboxedEnvironment(undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                                        autoescape=False, keep_trailing_newline=False)
    env.filters.update(FILTERS)
    return env


@lru_cache(maxsize=256)
def _compile(body: str) -> Template:
    return _env().from_string(body)


@dataclass(frozen=True)
class Prompt:
    """One prompt version, ready to render; `template` is the full stored text (front matter included)."""

    prompt_id: str
    version: int
    purpose: str
    inputs: tuple[str, ...]
    description: str
    template: str
    fallback_template: str | None

    @property
    def ref(self) -> str:
        """How ledger rows, runs and drafts name the prompt they used."""
        return f"{self.prompt_id}@{self.version}"

    @property
    def body(self) -> str:
        return _body(self.template)

    @property
    def instructions(self) -> tuple[str, ...]:
        """The fixed wording of the system and user blocks: put it in GuardContext.instructions so a reply that
        merely repeats its instructions is rejected."""
        return _instruction_fragments(self.body)

    def messages(self, **inputs: Any) -> list[BaseMessage]:
        """System and user messages (single turn: small local servers reject longer histories)."""
        return [SystemMessage(self.render_block("system", inputs)), HumanMessage(self.render_block("user", inputs))]

    def render_fallback(self, **inputs: Any) -> str:
        if self.fallback_template is None:
            raise NotFound("fallback template of prompt", self.ref)
        return self.render_block("fallback", inputs)

    def render_block(self, block: str, inputs: dict[str, Any]) -> str:
        """One block rendered with exactly the declared inputs; a missing or unknown input names itself."""
        missing = [name for name in self.inputs if name not in inputs]
        if missing:
            raise InvalidInput(missing[0], f"missing input of prompt {self.ref} (inputs: {', '.join(self.inputs)})")
        unknown = sorted(set(inputs) - set(self.inputs))
        if unknown:
            raise InvalidInput(unknown[0], f"not an input of prompt {self.ref} (inputs: {', '.join(self.inputs)})")
        template = _compile(self.body)
        try:
            text = "".join(template.blocks[block](template.new_context(dict(inputs))))
        except (UndefinedError, TypeError, ValueError, SecurityError) as exc:
            raise InvalidInput("inputs", f"prompt {self.ref}, block {block}: {exc}") from None
        return re.sub(r"\n{3,}", "\n\n", text).strip()


_BLOCK_SOURCE = re.compile(r"\{%-?\s*block\s+(system|user)\s*-?%\}(.*?)\{%-?\s*endblock", re.S)
_JINJA_SYNTAX = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.S)


@lru_cache(maxsize=256)
def _instruction_fragments(body: str) -> tuple[str, ...]:
    fragments: list[str] = []
    for _, source in _BLOCK_SOURCE.findall(body):
        for piece in _JINJA_SYNTAX.split(source):
            fragments += [line.strip(" -*:") for line in piece.splitlines() if len(line.split()) >= 5]
    return tuple(dict.fromkeys(fragments))


def _split(text: str) -> tuple[dict[str, Any], str]:
    m = _FRONT_MATTER.match(text)
    if not m:
        raise InvalidInput("front matter", "a prompt starts with a '---' line, YAML fields, and another '---' line")
    try:
        meta_data = yaml.safe_load(m.group(1))
    except yaml.YAMLError as exc:
        raise InvalidInput("front matter", f"not valid YAML: {exc}") from None
    if not isinstance(meta_data, dict):
        raise InvalidInput("front matter", "expected YAML fields (id, version, description, purpose, inputs)")
    return meta_data, text[m.end():]


@lru_cache(maxsize=256)
def _body(text: str) -> str:
    return _split(text)[1]


def parse(text: str, source: str = "prompt") -> Prompt:
    """Validate a full prompt text (front matter + blocks) and build its Prompt; errors name `source` and field."""
    fields, body = _split(text)
    front_lines = text[: len(text) - len(body)].count("\n")
    prompt_id, version = fields.get("id"), fields.get("version")
    if not isinstance(prompt_id, str) or not _PROMPT_ID.match(prompt_id):
        raise InvalidInput(f"{source}: id", f"expected '<agent>.<step>' in lower case, got {prompt_id!r}")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise InvalidInput(f"{source}: version", f"expected a whole number from 1, got {version!r}")
    purpose = fields.get("purpose", "default")
    if purpose not in PURPOSES:
        raise InvalidInput(f"{source}: purpose", f"{purpose!r} is not one of {', '.join(PURPOSES)}")
    inputs = fields.get("inputs") or []
    if not isinstance(inputs, list) or not all(isinstance(i, str) and _IDENT.match(i) for i in inputs):
        raise InvalidInput(f"{source}: inputs", "expected a list of names like [contact_name, comment]")
    description = fields.get("description") or ""
    try:
        ast = _env().parse(body)
        _compile(body)
    except TemplateSyntaxError as exc:
        raise InvalidInput(f"{source}: line {(exc.lineno or 0) + front_lines}", exc.message or "syntax error") from None
    undeclared = sorted(meta.find_undeclared_variables(ast) - set(inputs))
    if undeclared:
        raise InvalidInput(f"{source}: {undeclared[0]}", "used in the template but not listed in inputs")
    blocks = set(_compile(body).blocks)
    for needed in ("system", "user"):
        if needed not in blocks:
            raise InvalidInput(f"{source}: block {needed}", "missing ({% block " + needed + " %}...{% endblock %})")
    fallback = _FALLBACK_BLOCK.search(body)
    if ("fallback" in blocks) != bool(fallback):
        raise InvalidInput(f"{source}: block fallback", "write it as {% block fallback %}...{% endblock %}")
    return Prompt(prompt_id, version, purpose, tuple(inputs), str(description), text,
                  fallback.group(1) if fallback else None)


def content_hash(text: str) -> str:
    """Identity of a prompt text regardless of its version number, so a re-sync of the same text is a no-op."""
    fields, body = _split(text)
    fields.pop("version", None)
    canonical = yaml.safe_dump(fields, sort_keys=True) + "\n" + body.strip()
    return hashlib.sha256(canonical.encode()).hexdigest()


def with_version(text: str, version: int) -> str:
    """The same text with its front matter's version set to `version`."""
    m = _FRONT_MATTER.match(text)
    if not m:
        raise InvalidInput("front matter", "missing")
    front = m.group(1)
    front = _VERSION_LINE.sub(f"version: {version}", front) if _VERSION_LINE.search(front) else \
        front + f"version: {version}\n"
    return f"---\n{front}---\n{text[m.end():]}"


def read_file(path: Path, base: Path | None = None) -> Prompt:
    """A prompt file with its sibling fallback folded in; its id must match `<agent>/<step>.md.j2`."""
    text = path.read_text(encoding="utf-8")
    source = str(path.relative_to(base)) if base else str(path)
    fallback_path = path.with_name(path.name.removesuffix(SUFFIX) + FALLBACK_SUFFIX)
    if fallback_path.exists():
        if _FALLBACK_BLOCK.search(text):
            raise InvalidInput(source, f"has a fallback block and a {fallback_path.name} file; keep one")
        fallback = fallback_path.read_text(encoding="utf-8").strip("\n")
        text = text.rstrip("\n") + "\n{% block fallback %}\n" + fallback + "\n{% endblock %}\n"
    prompt = parse(text, source)
    expected = f"{path.parent.name}.{path.name.removesuffix(SUFFIX)}"
    if prompt.prompt_id != expected:
        raise InvalidInput(f"{source}: id", f"is {prompt.prompt_id!r} but the file's place says {expected!r}")
    return prompt


def read_files(base: Path | None = None) -> list[Prompt]:
    """All prompt files under `base` (default: the packaged prompts), validated before anything is written."""
    base = base or root()
    paths = sorted(p for p in base.glob(f"*/*{SUFFIX}") if not p.name.endswith(FALLBACK_SUFFIX))
    prompts = [read_file(p, base) for p in paths]
    seen: dict[str, int] = {}
    for p in prompts:
        if p.prompt_id in seen:
            raise InvalidInput(p.prompt_id, "defined by more than one file")
        seen[p.prompt_id] = 1
    return prompts


def from_row(row: PromptVersion) -> Prompt:
    prompt = parse(row.template, row.prompt_id)
    return Prompt(row.prompt_id, row.version, row.purpose, tuple(row.inputs), row.description or "",
                  row.template, prompt.fallback_template)


# --- registry operations (the caller owns the transaction) ---------------------------------------------------

@dataclass(frozen=True)
class SyncItem:
    prompt_id: str
    version: int
    action: str  # new (production) | staged | promoted | unchanged


@dataclass(frozen=True)
class Preview:
    ref: str
    system: str
    user: str
    fallback: str | None


def _insert(session: Session, prompt: Prompt, *, source: str, actor: str, note: str | None) -> PromptVersion:
    return repo.add_version(session, prompt_id=prompt.prompt_id, version=prompt.version,
                            description=prompt.description, purpose=prompt.purpose, inputs=list(prompt.inputs),
                            template=prompt.template, content_hash=content_hash(prompt.template), source=source,
                            note=note, created_by=actor)


def _move_label(session: Session, prompt_id: str, label: str, row: PromptVersion | None, actor: str,
                action: str) -> None:
    current = repo.get_label(session, prompt_id, label)
    if current is not None and row is not None and current.version_id == row.id:
        return
    from_id = current.version_id if current is not None else None
    if row is None:
        repo.delete_label(session, prompt_id, label)
    else:
        repo.set_label(session, prompt_id, label, row.id, actor)
    repo.add_label_event(session, prompt_id=prompt_id, label=label, from_version_id=from_id,
                         to_version_id=row.id if row is not None else None, action=action, actor=actor)


def sync_prompts(session: Session, base: Path | None = None, *, promote: bool = False,
                 actor: str = "system") -> list[SyncItem]:
    """Insert each file whose text is new as an immutable version; new prompts go to production, new versions
    of known prompts to staging (or production with `promote`). Same text again: nothing is written."""
    items: list[SyncItem] = []
    for prompt in read_files(base):
        same = repo.version_by_hash(session, prompt.prompt_id, content_hash(prompt.template))
        if same is not None:
            items.append(SyncItem(prompt.prompt_id, same.version, "unchanged"))
            continue
        latest = repo.max_version(session, prompt.prompt_id)
        if prompt.version <= latest:
            raise InvalidInput(f"{prompt.prompt_id}: version", f"{prompt.version} changed text but version "
                               f"{latest} is already synced; set version: {latest + 1} in the file")
        row = _insert(session, prompt, source="file", actor=actor, note=None)
        if repo.get_label(session, prompt.prompt_id, "production") is None:
            _move_label(session, prompt.prompt_id, "production", row, actor, "sync")
            items.append(SyncItem(prompt.prompt_id, prompt.version, "new"))
        elif promote:
            promote_version(session, prompt.prompt_id, prompt.version, actor)
            items.append(SyncItem(prompt.prompt_id, prompt.version, "promoted"))
        else:
            _move_label(session, prompt.prompt_id, "staging", row, actor, "stage")
            items.append(SyncItem(prompt.prompt_id, prompt.version, "staged"))
    session.flush()
    return items


def _row(session: Session, prompt_id: str, version: int) -> PromptVersion:
    row = repo.get_version(session, prompt_id, version)
    if row is None:
        raise NotFound("prompt version", f"{prompt_id}@{version}")
    return row


def load_prompt(session: Session, prompt_id: str, label: str = "production") -> Prompt:
    """The version a label points at: what agents use."""
    if label not in LABELS:
        raise InvalidInput("label", f"{label!r} is not one of {', '.join(LABELS)}")
    row = repo.labelled_version(session, prompt_id, label)
    if row is None:
        raise NotFound(f"{label} version of prompt", prompt_id)
    return from_row(row)


def load_version(session: Session, prompt_id: str, version: int) -> Prompt:
    return from_row(_row(session, prompt_id, version))


def create_version(session: Session, prompt_id: str, template_text: str, actor: str,
                   note: str | None = None) -> PromptVersion:
    """An admin's edit becomes the next version, labelled staging; production moves only by `promote`."""
    latest = repo.max_version(session, prompt_id)
    if latest == 0:
        raise NotFound("prompt", prompt_id)
    text = with_version(template_text, latest + 1)
    prompt = parse(text, f"{prompt_id}@{latest + 1}")
    if prompt.prompt_id != prompt_id:
        raise InvalidInput("id", f"the text says {prompt.prompt_id!r}, expected {prompt_id!r}")
    same = repo.version_by_hash(session, prompt_id, content_hash(text))
    if same is not None:
        raise Conflict(f"prompt {prompt_id}: this text is identical to version {same.version}")
    previous = load_version(session, prompt_id, latest)
    if previous.fallback_template is not None and prompt.fallback_template is None:
        raise InvalidInput("block fallback", f"version {latest} has a fallback template; keep one "
                                             "({% block fallback %}...{% endblock %})")
    row = _insert(session, prompt, source="admin", actor=actor, note=note)
    _move_label(session, prompt_id, "staging", row, actor, "stage")
    session.flush()
    return row


def preview(session: Session, prompt_id: str, version: int, inputs: dict[str, Any]) -> Preview:
    """What the model would be sent for these inputs, and the fallback text, without calling a model."""
    prompt = load_version(session, prompt_id, version)
    system, user = (m.text for m in prompt.messages(**inputs))
    fallback = prompt.render_fallback(**inputs) if prompt.fallback_template is not None else None
    return Preview(prompt.ref, system, user, fallback)


def diff(session: Session, prompt_id: str, v1: int, v2: int) -> str:
    """Unified diff of two versions' full texts."""
    a, b = _row(session, prompt_id, v1), _row(session, prompt_id, v2)
    return "".join(difflib.unified_diff(a.template.splitlines(keepends=True), b.template.splitlines(keepends=True),
                                        fromfile=f"{prompt_id}@{v1}", tofile=f"{prompt_id}@{v2}"))


def promote_version(session: Session, prompt_id: str, version: int, actor: str, *,
                    override: bool = False) -> PromptVersion:
    """Make a version production once its eval gate passes (or an admin overrides, audited); staging is cleared
    if it pointed at the version."""
    row = _row(session, prompt_id, version)
    current = repo.get_label(session, prompt_id, "production")
    if current is not None and current.version_id == row.id:
        raise Conflict(f"prompt {prompt_id}: version {version} is already production")
    _check_gate(session, row, actor, override)
    _move_label(session, prompt_id, "production", row, actor, "promote")
    staging = repo.get_label(session, prompt_id, "staging")
    if staging is not None and staging.version_id == row.id:
        _move_label(session, prompt_id, "staging", None, actor, "unstage")
    session.flush()
    return row


promote = promote_version


def _check_gate(session: Session, row: PromptVersion, actor: str, override: bool) -> None:
    """The eval gate hook: a version that fails its suites' gate stays out of production unless overridden."""
    from evals.gate import promotion_failures

    failures = promotion_failures(session, row.prompt_id, row.version)
    if not failures:
        return
    if not override:
        shown = "; ".join(failures[:5]) + (f"; and {len(failures) - 5} more" if len(failures) > 5 else "")
        raise Conflict(f"prompt {row.prompt_id}@{row.version} fails its eval gate: {shown}. Fix the prompt, or "
                       "promote with override (audited)")
    add_audit(session, actor=actor, action="prompt.promote_override", entity_type="prompt_version",
              entity_id=row.id, after={"prompt": f"{row.prompt_id}@{row.version}", "gate_failures": failures})


def rollback(session: Session, prompt_id: str, actor: str) -> PromptVersion:
    """Production back to the version it held before the current one (repeatable: walks back the history)."""
    stack: list[int] = []
    for event in repo.label_events(session, prompt_id, "production"):
        if event.action == "rollback":
            if stack:
                stack.pop()
        elif event.to_version_id is not None:
            stack.append(event.to_version_id)
    if len(stack) < 2:
        raise Conflict(f"prompt {prompt_id}: no earlier production version to roll back to")
    target = repo.version_by_id(session, stack[-2])
    _move_label(session, prompt_id, "production", target, actor, "rollback")
    session.flush()
    return target
