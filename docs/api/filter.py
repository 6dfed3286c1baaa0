#!/usr/bin/env python3
"""Doxygen's input filter for weft's API reference (docs/api/Doxyfile, run by `make docs`).

Headers. They document each declaration with a plain C comment written just above it, no
blank line between, and struct fields, enum values and macros with a comment after them
on the same line; Doxygen reads only comments that open with a second '*'. The filter
prints a header as Doxygen should read it: it changes comments only, never code, and
keeps every line where it was (so Doxygen's messages name the header's real lines).

  - The file's first comment is the header's description (@file): its first paragraph
    the brief one, without the leading "weft/x.h — "; the file joins its layer's group
    (@ingroup, LAYERS below; the groups are defined in docs/api/layers.dox).
  - A comment with a declaration on the very next line becomes /** ... */. When more
    declarations follow it with no blank line or comment between (a run of #defines, a
    struct and its _INIT macro, three getters), each of the others gets the same
    documentation: "/** @copydoc FIRST */ " is put in front of its first line.
  - A comment after code on the same line (not after #include or #endif) becomes
    /**< ... */: it documents that field, value or macro (each name of "int a, b;").
  - An opaque handle declared with no comment ("typedef struct weft_x weft_x;") is said
    to be one; the header's description and its functions document it.
  - Every other comment (the section rulers, prose between blank lines) is left alone.
  - In the comments Doxygen reads, the guides named (docs/CANCELLATION.md) become links,
    and "<" before a letter is escaped (libweft.so.<major> is no HTML tag).

Pages. docs/*.md get the label doc_<name> on their first heading (the links' target);
docs/api/mainpage.md gets README.md's C example and the table of the headers by layer.

Anything it cannot place is reported on standard error as "FILE:LINE: warning: ...",
which fails `make docs` as Doxygen's own warnings do.

Usage: filter.py FILE (Doxygen appends the file's name); writes to standard output.
"""
import os
import re
import sys

# Header -> layer group: docs/ARCHITECTURE.md's "Layers", as docs/api/layers.dox groups them.
LAYERS = {
    "weft.h": "layer_core", "core.h": "layer_core",
    "task.h": "layer_task", "loop.h": "layer_task", "io.h": "layer_task",
    "future.h": "layer_future",
    "sync.h": "layer_sync",
    "queue.h": "layer_queue",
    "group.h": "layer_group",
    "pool.h": "layer_pool",
    "net.h": "layer_net", "stream.h": "layer_net", "file.h": "layer_net",
    "proc.h": "layer_proc", "process.h": "layer_proc", "procpool.h": "layer_proc",
    "shared.h": "layer_proc", "signal.h": "layer_proc",
    "redis.h": "layer_dist", "dist.h": "layer_dist",
    "hook.h": "layer_hook",
}

NOT_DECLARATION = re.compile(r"\s*(#\s*(endif|else|elif|include|pragma)\b|}|extern\s+\"C\")")
NO_TRAILING = re.compile(r"\s*#\s*(if|ifdef|ifndef|elif|else|endif|include|pragma)\b")
CONDITIONAL = re.compile(r"\s*#\s*(if|ifdef|ifndef|elif|else|endif)\b")
OPAQUE_DOC = "/** An opaque handle: see the functions that take it. */ "
SEVERAL = re.compile(r"\s*[A-Za-z_][\w\s*]*\w[\w\s*\[\]]*(,[\w\s*\[\]]+)+;\s*$")
OPAQUE = re.compile(r"\s*typedef\s+struct\s+\w+\s+\w+\s*;\s*$")

problems = []


def warn(path, line, msg):
    problems.append(f"{path}:{line + 1}: warning: docs/api/filter.py: {msg}")


def comment_end(lines, i, last=False):
    """Index of the line that closes the comment opened on line i (its first comment, or
    with last its last one)."""
    j = i
    rest = lines[i][(lines[i].rindex if last else lines[i].index)("/*") + 2:]
    while "*/" not in rest:
        j += 1
        rest = lines[j]
    return j


def own_comment(line):
    return line.lstrip().startswith("/*")


def is_declaration(line):
    s = line.strip()
    return bool(s) and not own_comment(line) and not s.startswith("//") \
        and not NOT_DECLARATION.match(line)


def declaration_end(lines, i):
    """Index of the last line of the declaration that starts on line i, a trailing
    comment that goes on over further lines included."""
    depth, in_comment = 0, False
    directive = lines[i].lstrip().startswith("#")
    while i < len(lines):
        code, in_comment = strip_comments(lines[i], in_comment)
        if directive:
            done = not code.rstrip().endswith("\\")
        else:
            depth += code.count("{") + code.count("(") - code.count("}") - code.count(")")
            done = depth <= 0 and code.rstrip().endswith(";")
        if done and not in_comment or i + 1 == len(lines):
            return i
        if done:                                   # its trailing comment goes on
            while "*/" not in lines[i + 1] and i + 2 < len(lines):
                i += 1
            return i + 1
        i += 1
    return i


def strip_comments(line, in_comment):
    """The line's code, without its comments, and whether a comment is open at its end."""
    code, k = "", 0
    while k < len(line):
        if in_comment:
            e = line.find("*/", k)
            if e < 0:
                return code, True
            in_comment, k = False, e + 2
        else:
            b = line.find("/*", k)
            if b < 0:
                return code + line[k:], False
            code, in_comment, k = code + line[k:b] + " ", True, b + 2
    return code, in_comment


def declared_name(text):
    """The name a declaration declares (None for an anonymous enum, say)."""
    code = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    code = re.sub(r"\\\n", " ", code)
    m = re.match(r"\s*#\s*define\s+(\w+)", code)
    if m:
        return m.group(1)
    if "{" in code:                                # struct, union or enum: its typedef name
        tail = code[code.rindex("}") + 1:]
        m = re.search(r"(\w+)\s*;\s*$", tail)
        if m:
            return m.group(1)
        m = re.match(r"\s*(?:typedef\s+)?(?:struct|union|enum)\s+(\w+)\s*{", code)
        return m.group(1) if m else None
    m = re.search(r"\(\s*\*\s*(\w+)\s*\)\s*\(", code)  # a pointer to a function
    if m:
        return m.group(1)
    m = re.search(r"(\w+)\s*\(", code)               # a function
    if m:
        return m.group(1)
    m = re.search(r"(\w+)\s*(\[[^\]]*\]\s*)*;\s*$", code)
    return m.group(1) if m else None


def comment_text(block):
    """A comment block's words on one line (for a copy in front of a declaration)."""
    text = " ".join(re.sub(r"^\s*(/\*+|\*(?!/))?", "", l).strip() for l in block)
    return re.sub(r"\s*\*/\s*$", "", text).strip()


def header_description(path, lines, i, j):
    name = os.path.basename(path)
    shown = name if name == "weft.h" else "weft/" + name
    layer = LAYERS.get(name)
    if layer is None:
        warn(path, i, f"{name} belongs to no layer: add it to LAYERS")
        layer = "layer_core"
    lines[i] = re.sub(r"/\*\s*(\S+ — )?", "/** @brief ", lines[i], count=1)
    k = lines[j].rindex("*/")
    lines[j] = lines[j][:k] + f"@file {shown} @ingroup {layer} " + lines[j][k:]


def filter_header(path, text):
    lines = text.split("\n")
    prefix = {}                                   # line -> documentation put in front of it
    i = 0
    first = True
    while i < len(lines):
        line = lines[i]
        if own_comment(line) and not line.lstrip().startswith(("/**", "/*!")):
            j = comment_end(lines, i)
            if first:
                header_description(path, lines, i, j)
                first = False
                i = j + 1
                continue
            k = j + 1
            starts = []
            while k < len(lines) and is_declaration(lines[k]):
                starts.append(k)
                k = declaration_end(lines, k) + 1
            if starts:
                block = lines[i:j + 1]
                lines[i] = lines[i].replace("/*", "/**", 1)
                if len(starts) > 1 and not any(CONDITIONAL.match(lines[s]) for s in starts):
                    name = declared_name("\n".join(lines[starts[0]:starts[1]]))
                    copy = f"@copydoc {name}" if name else comment_text(block)
                    for s in starts[1:]:
                        prefix[s] = OPAQUE_DOC if OPAQUE.match(lines[s]) else f"/** {copy} */ "
            i = j + 1
            continue
        if first and line.strip():
            warn(path, i, "the file does not open with its description")
            first = False
        if OPAQUE.match(line) and not (i > 0 and lines[i - 1].rstrip().endswith("*/")):
            prefix.setdefault(i, OPAQUE_DOC)
        k = line.find("/*")
        if k > 0 and line[:k].strip() and not line.startswith(("/**", "/*!"), k) \
                and not NO_TRAILING.match(line):
            lines[i] = line[:k] + "/**<" + line[k + 2:]
        end = comment_end(lines, i, last=True) if strip_comments(line, False)[1] else i
        if SEVERAL.match(strip_comments(line, False)[0]):
            # "int a, b, c; /* doc */": Doxygen gives the comment to c alone; a member
            # group gives it to all three (DISTRIBUTE_GROUP_DOC)
            prefix[i] = "/** @{ */ "
            lines[end] += " /** @} */"
        i = end + 1
    for s, p in prefix.items():
        lines[s] = p + lines[s]
    return re.sub(r"/\*\*<?(.*?)\*/", lambda m: m.group(0)[:-len(m.group(1)) - 2]
                  + prose(m.group(1), escape=True) + "*/", "\n".join(lines), flags=re.S)


# ------------------------------------------------------------------ prose and pages ----

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
GUIDES = sorted(f[:-3] for f in os.listdir(os.path.join(TOP, "docs")) if f.endswith(".md"))
GUIDE = re.compile(r"(?<![\w/.])(?:docs/)?(%s)\.md\b" % "|".join(map(re.escape, GUIDES)))


def guide_ref(m):
    return f'@ref doc_{m.group(1).lower()} "docs/{m.group(1)}.md"'


def prose(text, escape=False):
    """Text outside code spans: the guides named become links (docs/CANCELLATION.md, alone
    or as a code span); with escape, '<' before a letter is escaped (libweft.so.<major>
    is no HTML tag). A code span with a quote in it gets double backticks (Doxygen 1.9
    reads `...'...` as a quotation)."""
    def part(m):
        t = m.group(0)
        if t.startswith("`"):
            inner = t[1:-1]
            if GUIDE.fullmatch(inner):
                return GUIDE.sub(guide_ref, inner)
            return "``" + inner + "``" if "'" in inner else t
        if escape:                                # (Doxygen leaves "quoted text" alone)
            t = re.sub(r'"[^"\n]*"|[^"]+', lambda q: q.group(0) if q.group(0)[0] == '"'
                       else re.sub(r"<(?=[A-Za-z])", r"\\<", q.group(0)), t)
        return GUIDE.sub(guide_ref, t)
    return re.sub(r"`[^`]+`|[^`]+", part, text)


def filter_markdown(path, text):
    """A guide (docs/*.md): its first heading gets the label doc_<name> that links use."""
    name = os.path.basename(path)[:-3]
    chunks = re.split(r"(^```.*?^```[^\n]*$)", text, flags=re.S | re.M)
    labelled = False
    for n in range(0, len(chunks), 2):            # the text between fenced blocks
        if not labelled:
            chunks[n], labelled = re.subn(r"^(# .*)$", r"\1 {#doc_%s}" % name.lower(),
                                          chunks[n], count=1, flags=re.M)
        # headings: no links, no code spans (Doxygen 1.9 shows their <tt> tags as text)
        parts = re.split(r"(^#.*$)", chunks[n], flags=re.M)
        chunks[n] = "".join(p.replace("`", "") if k % 2 else prose(p)
                            for k, p in enumerate(parts))
    if not labelled:
        warn(path, 0, "no '# ' heading to label")
    return "".join(chunks)


def header_briefs():
    """(header as included, its one-line description), in LAYERS' order."""
    out = []
    for name in LAYERS:
        path = os.path.join(TOP, "include", name if name == "weft.h" else "weft/" + name)
        with open(path, encoding="utf-8") as f:
            head = f.read().split("*/", 1)[0]
        text = [re.sub(r"^\s*(/\*|\*)\s?", "", l).rstrip() for l in head.split("\n")]
        first = " ".join(text[:text.index("")] if "" in text else text)
        shown, _, brief = first.partition(" — ")
        out.append((shown, brief))
    return out


def filter_mainpage(path, text):
    """docs/api/mainpage.md: @README_EXAMPLE@ becomes README.md's first C example and
    @HEADERS_BY_LAYER@ a table of the headers, by layer (LAYERS, layers.dox's titles)."""
    with open(os.path.join(TOP, "README.md"), encoding="utf-8") as f:
        m = re.search(r"^```c\n.*?^```$", f.read(), flags=re.S | re.M)
    if not m:
        warn(path, 0, "README.md has no ```c example")
    text = text.replace("@README_EXAMPLE@", m.group(0) if m else "")
    with open(os.path.join(HERE, "layers.dox"), encoding="utf-8") as f:
        groups = re.findall(r"@defgroup (\w+) (.*)", f.read())
    for name in sorted(set(LAYERS.values()) - {g for g, _ in groups}):
        warn(path, 0, f"layers.dox does not define {name}")
    briefs = dict(header_briefs())
    rows = ["| layer | header | what it holds |", "|---|---|---|"]
    for group, title in groups:
        cell = f'@ref {group} "{title}"'
        for name, layer in LAYERS.items():
            if layer == group:
                shown = name if name == "weft.h" else "weft/" + name
                rows.append(f"| {cell} | @ref {shown} | {briefs[shown]} |")
                cell = ""
    return prose(text.replace("@HEADERS_BY_LAYER@", "\n".join(rows)))




def main():
    path = sys.argv[1]
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if path.endswith(".h"):
        text = filter_header(path, text)
    elif os.path.basename(path) == "mainpage.md":
        text = filter_mainpage(path, text)
    elif path.endswith(".md"):
        text = filter_markdown(path, text)
    sys.stdout.write(text)
    for p in problems:
        print(p, file=sys.stderr)


if __name__ == "__main__":
    main()
