"""What the packaging checks understand of Helm's Go templates.

Two things, without a helm binary:

- `values_references()` finds every values path a template uses: absolute
  `.Values.a.b` / `$.Values.a.b`, fields of a variable bound to a map of values
  (`$r := index $.Values.roles $role`: `$r.replicaCount` must exist under every role),
  and fields relative to a `with .Values.a` block. A bare `.field` at the top level must
  be one of Helm's built-in objects.
- `render_subset()` renders a file that uses only the small subset of actions the chart's
  files/smarthost.toml is allowed to use, exactly as Go's text/template would (including
  `{{-` / `-}}` whitespace trimming); anything else is an error, so the file cannot grow
  template logic the tests would not follow.
"""

import json
import re

ACTION = re.compile(r"\{\{(-?)(.*?)(-?)\}\}", re.S)
BUILTINS = {"Values", "Release", "Chart", "Files", "Capabilities", "Template", "Subcharts"}
STRING_LITERAL = re.compile(r'"(?:[^"\\]|\\.)*"|`[^`]*`')
PATH = r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*"
DEFINE = "define"  # inside define: `.` is what the caller passed, the root by convention


class TemplateError(Exception):
    pass


def actions(text):
    """(trim_left, body, trim_right, start, end) of every {{ }} action."""
    for m in ACTION.finditer(text):
        yield m.group(1) == "-", m.group(2).strip(), m.group(3) == "-", m.start(), m.end()


def is_comment(body):
    return body.startswith("/*") and body.endswith("*/")


def values_references(text, filename):
    """Values paths used in one template: a list of (path tuple, where), where a path
    starting with "*" stands for every entry of the map it follows (see `roles`)."""
    refs = []
    stack = []  # per open block: the values path `.` stands for, or None when unknown
    variables = {}  # $name -> values path (a trailing "*": any key of that map)
    context = ()  # what `.` is: () the root, a tuple a values path, None unknown
    line_of = lambda pos: text.count("\n", 0, pos) + 1
    for _, body, _, start, _ in actions(text):
        if is_comment(body):
            continue
        where = f"{filename}:{line_of(start)}"
        code = STRING_LITERAL.sub('""', body)
        keyword = code.split(None, 1)[0] if code else ""
        # Bindings: `$r := index $.Values.roles $role` and `$x := .Values.a.b`.
        binding = re.compile(r"(\$\w+)\s*:?=\s*index\s+\$?\.Values\.(" + PATH + r")\s+\$\w+")
        for var, path in binding.findall(code):
            variables[var] = tuple(path.split(".")) + ("*",)
        # Binding a map is not using its values: the variable's fields are.
        code = binding.sub("", code)
        for var, path in re.findall(r"(\$\w+)\s*:?=\s*\$?\.Values\.(" + PATH + r")\s*$", code):
            variables[var] = tuple(path.split("."))
        for path in re.findall(r"(?<![\w\)\]])\$?\.Values\.(" + PATH + ")", code):
            refs.append((tuple(path.split(".")), where))
        for var, path in re.findall(r"(\$\w+)\.(" + PATH + ")", code):
            if var in variables:
                refs.append((variables[var] + tuple(path.split(".")), where))
        # Fields relative to `.`: not preceded by a word, a variable or a closing bracket.
        relative = re.findall(r"(?<![\w\)\]\$])\.(" + PATH + ")", code)
        for path in relative:
            parts = tuple(path.split("."))
            if context in ((), DEFINE):
                if parts[0] not in BUILTINS:
                    raise TemplateError(f"{where}: .{path} is not a built-in object (.Values...?)")
            elif parts[0] in BUILTINS:
                # In range and with, `.` is the element: the root is `$`.
                raise TemplateError(f"{where}: .{parts[0]} inside range/with: write $.{parts[0]}")
            elif context is not None:
                refs.append((context + parts, where))
        if keyword in ("if", "with", "range", "define", "block"):
            stack.append(context)
            if keyword == "with":
                m = re.fullmatch(r"with\s+\$?\.Values\.(" + PATH + ")", code)
                context = tuple(m.group(1).split(".")) if m else None
            elif keyword == "range":
                context = None
            elif keyword in ("define", "block"):
                context = DEFINE
        elif keyword == "end":
            if not stack:
                raise TemplateError(f"{where}: {{{{ end }}}} without an open block")
            context = stack.pop()
    if stack:
        raise TemplateError(f"{filename}: {len(stack)} block(s) not closed with {{{{ end }}}}")
    return refs


def lookup(values, path):
    """The value at path ("*" matches every key of a map), or raise KeyError naming it."""
    nodes = [values]
    for i, key in enumerate(path):
        next_nodes = []
        for node in nodes:
            if not isinstance(node, dict):
                raise KeyError(".".join(path[: i + 1]))
            if key == "*":
                next_nodes.extend(node.values())
            elif key in node:
                next_nodes.append(node[key])
            else:
                raise KeyError(".".join(path[: i + 1]))
        nodes = next_nodes
    return nodes


def leaves(values, prefix=()):
    """Every path to a scalar, a list or an empty map in values."""
    if isinstance(values, dict) and values:
        for key, value in values.items():
            yield from leaves(value, prefix + (key,))
    else:
        yield prefix


def covers(used, leaf):
    """Whether a used path (with "*" wildcards) is a prefix of leaf."""
    if len(used) > len(leaf):
        return False
    return all(u == "*" or u == l for u, l in zip(used, leaf))


def truthy(value):
    """Go text/template truth: false, 0, nil and empty strings, lists and maps are false."""
    return not (value is None or value is False or value == 0 or value in ("", [], {}))


def go_quote(value):
    """Sprig's quote: Go's %q of the string form (JSON escapes agree for what TOML needs)."""
    text = format_value(value)
    return json.dumps(text, ensure_ascii=False)


def format_value(value):
    """Go's %v of a values entry."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "<no value>"
    if isinstance(value, (dict, list)):
        raise TemplateError(f"a map or list printed without toJson: {value!r}")
    return str(value)


SUBSET = re.compile(
    r"(?P<if>if\s+\.Values\.(?P<if_path>" + PATH + r"))"
    r"|(?P<else>else)|(?P<end>end)"
    r"|\.Values\.(?P<path>" + PATH + r")(?:\s*\|\s*(?P<filter>quote|toJson|int))?"
)


def render_subset(text, values, filename):
    """Renders text as text/template would, for the subset documented above."""
    out = []
    stack = []  # per open `if`: (emitting before it, condition), updated by `else`
    emitting = True
    pos = 0
    pending_trim = False
    for trim_left, body, trim_right, start, end in actions(text):
        chunk = text[pos:start]
        if pending_trim:
            chunk = chunk.lstrip()
        if trim_left:
            chunk = chunk.rstrip()
        if emitting:
            out.append(chunk)
        pos, pending_trim = end, trim_right
        if is_comment(body):
            continue
        m = SUBSET.fullmatch(body)
        if not m:
            raise TemplateError(f"{filename}: unsupported action {{{{ {body} }}}}")
        if m.group("if"):
            condition = truthy(lookup(values, tuple(m.group("if_path").split(".")))[0])
            stack.append((emitting, condition))
            emitting = emitting and condition
        elif m.group("else"):
            if not stack:
                raise TemplateError(f"{filename}: else without if")
            outer, condition = stack[-1]
            emitting = outer and not condition
        elif m.group("end"):
            if not stack:
                raise TemplateError(f"{filename}: end without if")
            emitting, _ = stack.pop()
        elif emitting:
            value = lookup(values, tuple(m.group("path").split(".")))[0]
            kind = m.group("filter")
            if kind == "quote":
                out.append(go_quote(value))
            elif kind == "toJson":
                out.append(json.dumps(value))
            elif kind == "int":
                out.append(str(int(value)))
            else:
                out.append(format_value(value))
    if stack:
        raise TemplateError(f"{filename}: if without end")
    tail = text[pos:]
    out.append(tail.lstrip() if pending_trim else tail)
    return "".join(out)


def job_documents(text):
    """The Jobs of a template of several documents, by their app.kubernetes.io/component
    label: {component: document text}."""
    jobs = {}
    for document in text.split("\n---\n"):
        component = re.search(r"^\s*app\.kubernetes\.io/component: ([\w-]+)$", document, re.M)
        if re.search(r"^kind: Job$", document, re.M) and component:
            jobs[component.group(1)] = document
    return jobs


def job_args(text, component, values, filename):
    """The container args of the hook Job `component` in a template, a one-line flow list
    (`args: [...]`) rendered with values by render_subset: a list of strings."""
    document = job_documents(text).get(component)
    if document is None:
        raise TemplateError(f"{filename}: no Job labelled app.kubernetes.io/component: {component}")
    found = re.findall(r"^\s*args:\s*(\[.*\])\s*$", document, re.M)
    if len(found) != 1:
        raise TemplateError(f"{filename}, Job {component}: expected one `args: [...]` line, "
                            f"found {len(found)}")
    return json.loads(render_subset(found[0], values, f"{filename}, Job {component}"))
