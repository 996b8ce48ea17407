#!/bin/bash
# Conformance: a scripted session of Debian's xenstore-utils (xenstore-write,
# -read, -ls, -list, -rm, -exists, -chmod, -watch) against one XenStore
# daemon on a private socket, checking each client's exit status, stdout and
# stderr exactly.
#
#   tests/conformance/xs_utils.sh --xenkvm build/src/cli/xenkvm
#   tests/conformance/xs_utils.sh --cxenstored build/tests/conformance/xs_preload.so
#
# The expected outputs follow docs/misc/xenstore.txt and tools/xenstored of
# Xen 4.17 (comments cite the rule); the second form runs the same session
# against Xen's own C xenstored, which is how the expectations were checked.
# Socket clients are the privileged domain 0, so no quota applies to them.
# Where Xen leaves an order unspecified (children of a node, events of one
# commit) the session creates names in sorted order or compares sorted.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/xs_daemon.sh"
xs_parse_daemon_args "$@"
xs_need_cmd xenstore-write xenstore-read xenstore-ls xenstore-list xenstore-rm \
    xenstore-exists xenstore-chmod xenstore-watch timeout od
xs_start

T=$XS_DIR
n=0
fails=0
failed_names=()

report() { # report OK DESC [DETAILS]
    n=$((n + 1))
    if [ "$1" = 1 ]; then
        echo "ok $n - $2"
    else
        fails=$((fails + 1))
        failed_names+=("$2")
        echo "not ok $n - $2"
        printf '%s\n' "$3" | sed 's/^/#   /'
    fi
}

# show STRING: shell-quoted ($'..' for control characters), at most 600 bytes.
show() { printf '%q' "${1:0:600}"; }

# check DESC RC STDOUT STDERR CMD...: run CMD (10 s limit) and compare its
# exit status, stdout and stderr with the expected ones, byte for byte
# (trailing newlines included).
check() {
    local desc=$1 erc=$2 eout=$3 eerr=$4 out err rc
    shift 4
    out=$(timeout 10 "$@" 2>"$T/stderr"; printf '|%d' $?)
    rc=${out##*|}
    out=${out%|*}
    err=$(cat "$T/stderr"; printf x)
    err=${err%x}
    if [ "$rc" = "$erc" ] && [ "$out" = "$eout" ] && [ "$err" = "$eerr" ]; then
        report 1 "$desc"
    else
        report 0 "$desc" "command: $*
expected: rc=$erc stdout=[$(show "$eout")] stderr=[$eerr]
actual:   rc=$rc stdout=[$(show "$out")] stderr=[$err]"
    fi
}

# ok CMD...: the command succeeds silently (setup steps are checked too).
ok() { local d="$*"; [ ${#d} -gt 70 ] && d="${d:0:70}..."; check "$d" 0 "" "" "$@"; }

# lsp DEPTH NAME VALUE PERMS: one line of `xenstore-ls -p` (the client
# indents by depth, then pads with ". " up to column 60 when stdout is not a
# terminal, i.e. 80 columns wide).
lsp() {
    local line w
    line="$(printf '%*s' "$1" '')$2 = \"$3\""
    w=${#line}
    line+=" "
    w=$((w + 1))
    while [ $w -lt 60 ]; do
        if [ $((w & 1)) = 1 ]; then line+="."; else line+=" "; fi
        w=$((w + 1))
    done
    printf '%s  (%s)\n' "$line" "$4"
}

# watch_case DESC EXPECTED NEVENTS WPATH ACTION...: start `xenstore-watch -n
# NEVENTS WPATH`, wait for the event every watch fires when registered (so the
# watch is in place), run each ACTION (a shell command line), then compare
# everything the watcher printed. With WATCH_SORT=1, events after the first
# are compared sorted (events of one commit have no defined order).
watch_case() {
    local desc=$1 exp=$2 nev=$3 wpath=$4 out pid i act rc
    shift 4
    : >"$T/watch.out"
    timeout 10 xenstore-watch -n "$nev" "$wpath" >"$T/watch.out" 2>"$T/watch.err" &
    pid=$!
    i=0
    while [ ! -s "$T/watch.out" ] && [ $i -lt 200 ] && kill -0 $pid 2>/dev/null; do
        sleep 0.05
        i=$((i + 1))
    done
    for act in "$@"; do
        bash -c "$act" >>"$T/actions.log" 2>&1 || echo "action failed: $act" >>"$T/watch.err"
    done
    wait $pid
    rc=$?
    out=$(cat "$T/watch.out"; printf x)
    out=${out%x}
    if [ "${WATCH_SORT:-0}" = 1 ]; then
        out=$(printf '%s' "$out" | { IFS= read -r first; echo "$first"; sort; })$'\n'
    fi
    if [ "$rc" = 0 ] && [ "$out" = "$exp" ] && [ ! -s "$T/watch.err" ]; then
        report 1 "$desc"
    else
        report 0 "$desc" "xenstore-watch -n $nev $wpath; actions: $*
expected: rc=0 events=[$(show "$exp")]
actual:   rc=$rc (124: fewer events than expected within 10 s) events=[$(show "$out")] stderr=[$(cat "$T/watch.err")]"
    fi
}

echo "# xenstore-utils session against $XS_KIND on $XENSTORED_PATH"

# --- write / read / exists: values, implicit parents, multiple keys --------
ok xenstore-write /xsu/a 1
check "read a value" 0 $'1\n' "" xenstore-read /xsu/a
# Parents are created implicitly with an empty value (xenstore.txt WRITE).
check "read an implicitly created parent" 0 $'\n' "" xenstore-read /xsu
ok xenstore-write /xsu/b 2 /xsu/c/d 3
check "read two keys" 0 $'2\n3\n' "" xenstore-read /xsu/b /xsu/c/d
check "read -p prefixes the path" 0 $'/xsu/b: 2\n' "" xenstore-read -p /xsu/b
ok xenstore-write /xsu/a "new value"
check "overwrite a value" 0 $'new value\n' "" xenstore-read /xsu/a
ok xenstore-write /xsu/e ""
check "empty value" 0 $'\n' "" xenstore-read /xsu/e
check "exists: present node" 0 "" "" xenstore-exists /xsu/c/d
check "exists: absent node" 1 "" "" xenstore-exists /xsu/nope
check "exists: implicit parent" 0 "" "" xenstore-exists /xsu/c
check "read absent node" 1 "" $'xenstore-read: couldn\'t read path /xsu/nope\n' \
    xenstore-read /xsu/nope
# The client prints what it read before the failing key, then fails.
check "read present + absent" 1 $'new value\n' $'xenstore-read: couldn\'t read path /xsu/nope\n' \
    xenstore-read /xsu/a /xsu/nope

# Values are bytes: NUL, tab and backslash survive (xenstore.txt: "may
# contain any bytes"); the client escapes them on output, -R prints raw.
ok xenstore-write /xsu/f 'x\000y\t\\'
check "binary value, escaped" 0 $'x\\000y\\t\\\\\n' "" xenstore-read /xsu/f
check "binary value, raw bytes" 0 $' 78 00 79 09 5c\n' "" \
    bash -c 'xenstore-read -R /xsu/f | od -An -tx1'

# --- list / ls ---------------------------------------------------------------
check "list children" 0 $'a\nb\nc\ne\nf\n' "" xenstore-list /xsu
check "list -p" 0 $'/xsu/a\n/xsu/b\n/xsu/c\n/xsu/e\n/xsu/f\n' "" xenstore-list -p /xsu
check "list a leaf: no children" 0 "" "" xenstore-list /xsu/c/d
check "list absent node" 1 "" $'xenstore-list: could not list path /xsu/nope\n' \
    xenstore-list /xsu/nope
check "ls tree" 0 $'a = "new value"\nb = "2"\nc = ""\n d = "3"\ne = ""\nf = "x\\000y\\t\\\\"\n' "" \
    xenstore-ls /xsu
check "ls -f full paths" 0 $'/xsu/c/d = "3"\n' "" xenstore-ls -f /xsu/c
check "ls absent node" 1 "" $'xenstore-ls: xs_directory (/xsu/nope): No such file or directory\n' \
    xenstore-ls /xsu/nope
long=$(printf 'v%.0s' $(seq 100))
ok xenstore-write /xsl/long "$long"
check "ls truncates a long value at 80 columns" 0 "long = \"${long:0:68}\\...\"
" "" xenstore-ls /xsl
check "read a 100-byte value whole" 0 "$long
" "" xenstore-read /xsl/long

# --- path syntax (xenstore.txt "Paths"): [a-zA-Z0-9-/_@], no trailing or
# doubled '/'; a refused write creates nothing -----------------------------
check "write: trailing slash refused" 1 "" $'xenstore-write: could not write path /xsu/bad/\n' \
    xenstore-write /xsu/bad/ 1
check "write: space in path refused" 1 "" $'xenstore-write: could not write path /xsu/sp ace\n' \
    xenstore-write "/xsu/sp ace" 1
check "write: '*' in path refused" 1 "" $'xenstore-write: could not write path /xsu/st*r\n' \
    xenstore-write "/xsu/st*r" 1
check "read: '//' in path refused" 1 "" $'xenstore-read: couldn\'t read path /xsu//a\n' \
    xenstore-read /xsu//a
check "refused writes created nothing" 0 $'a\nb\nc\ne\nf\n' "" xenstore-list /xsu
ok xenstore-write /xsu/ok-_@9 1
check "write: - _ @ are path characters" 0 $'1\n' "" xenstore-read /xsu/ok-_@9

# --- relative paths are under /local/domain/<domid>; a socket is dom0 --------
ok xenstore-write rel/x 5
check "relative write lands under /local/domain/0" 0 $'5\n' "" xenstore-read /local/domain/0/rel/x
check "relative read" 0 $'5\n' "" xenstore-read rel/x
check "relative ls" 0 $'x = "5"\n' "" xenstore-ls rel

# --- rm ------------------------------------------------------------------------
ok xenstore-rm /xsu/b
check "removed node is gone" 1 "" "" xenstore-exists /xsu/b
# RM of an absent node whose parent exists succeeds (xenstored do_rm).
check "rm absent node, parent present" 0 "" "" xenstore-rm /xsu/never
check "rm absent node, parent absent" 1 "" $'xenstore-rm: could not remove path /xsu/no/such\n' \
    xenstore-rm /xsu/no/such
check "rm / refused" 1 "" $'xenstore-rm: could not remove path /\n' xenstore-rm /
check "root survives rm /" 0 "" "" xenstore-exists /
ok xenstore-write /xsu/t/u/v 1 /xsu/t/w 2
ok xenstore-rm /xsu/t
check "rm removes the subtree" 1 "" "" xenstore-exists /xsu/t/u/v
check "rm removes the subtree (2)" 1 "" "" xenstore-exists /xsu/t
# rm -t also removes parents left empty (no value, no children).
ok xenstore-write /xsu/tidy/p/q 1
ok xenstore-rm -t /xsu/tidy/p/q
check "rm -t removed empty parents" 1 "" "" xenstore-exists /xsu/tidy
check "rm -t kept a non-empty ancestor" 0 "" "" xenstore-exists /xsu
check "tree after the removals" 0 $'a\nc\ne\nf\nok-_@9\n' "" xenstore-list /xsu

# --- permissions (GET_PERMS / SET_PERMS): owner first, n/r/w/b ----------------
ok xenstore-write /xsp/n v
ok xenstore-chmod /xsp/n n0 r1 b2 w3
check "chmod: perms as set" 0 "$(lsp 0 n v n0,r1,b2,w3)"$'\n' "" xenstore-ls -p /xsp
ok xenstore-chmod /xsp/n b5
check "chmod: new owner 5, others read+write" 0 "$(lsp 0 n v b5)"$'\n' "" xenstore-ls -p /xsp
ok xenstore-chmod /xsp/n n0
check "chmod: back to owner 0 only" 0 "$(lsp 0 n v n0)"$'\n' "" xenstore-ls -p /xsp
check "chmod absent node" 1 "" \
    $'xenstore-chmod: Error occurred setting permissions on \'/xsp/nope\': No such file or directory\n' \
    xenstore-chmod /xsp/nope n0
# New nodes inherit their parent's permissions (xenstore.txt WRITE: "the
# new node ... inherits the permissions of its parent"); so do implicit ones.
ok xenstore-write /xsi/inh ""
ok xenstore-chmod /xsi/inh n0 r9
ok xenstore-write /xsi/inh/x/y v
check "implicit parents and the new node inherit perms" 0 \
    "$(lsp 0 x "" n0,r9; lsp 1 y v n0,r9)"$'\n' "" xenstore-ls -p /xsi/inh
# chmod -r: the node and every descendant.
ok xenstore-write /xsr/c1 v /xsr/c2/d w
ok xenstore-chmod -r /xsr n0 r7
check "chmod -r sets the whole subtree" 0 $'c1 r7\nc2 r7\nd r7\n' "" \
    bash -c "xenstore-ls -p /xsr | sed -E 's/^ *([a-z0-9]+) = .*\\(n0,(.*)\\)\$/\\1 \\2/'"
# chmod -u: the node and every ancestor below the root.
ok xenstore-write /xsq/up/a v
ok xenstore-chmod -u /xsq/up/a n0 r4
check "chmod -u sets the ancestors" 0 $'up r4\na r4\n' "" \
    bash -c "xenstore-ls -p /xsq | sed -E 's/^ *([a-z0-9]+) = .*\\(n0,(.*)\\)\$/\\1 \\2/'"
check "chmod -u reached /xsq" 0 $'xsq r4\n' "" \
    bash -c "xenstore-ls -p / | grep -E '^xsq ' | sed -E 's/^ *([a-z0-9]+) = .*\\(n0,(.*)\\)\$/\\1 \\2/'"

# --- a directory larger than one message (4096 bytes): DIRECTORY answers
# E2BIG and libxenstore falls back to DIRECTORY_PART ------------------------
args=()
for i in $(seq 1000 1299); do args+=("/xsbig/child-with-a-long-name-$i" "$i"); done
ok xenstore-write "${args[@]}"
expect_big=$(for i in $(seq 1000 1299); do echo "child-with-a-long-name-$i"; done)
check "list 300 children (DIRECTORY_PART)" 0 "$expect_big
" "" bash -c 'xenstore-list /xsbig | sort'
ok xenstore-rm /xsbig

# --- watches (xenstore.txt WATCH / WATCH_EVENT) --------------------------------
ok xenstore-write /xsw/x/y 1
# Fires once when set up, then for the node and its descendants; the
# recursive removal of a parent is reported as the watched path itself.
watch_case "watch: setup, child write, removal of a parent" \
    $'/xsw/x/y\n/xsw/x/y/z\n/xsw/x/y\n' 3 /xsw/x/y \
    "xenstore-write /xsw/x/y/z 2" "xenstore-rm /xsw"
# Registered relative: events are relative too.
watch_case "watch: relative path, events relative" \
    $'relw\nrelw/k\nrelw\n' 3 relw \
    "xenstore-write relw/k 1" "xenstore-rm relw"
# A watch on a node that does not exist yet fires when it is created below.
watch_case "watch: node created later" \
    $'/xsw2/deep\n/xsw2/deep/er\n' 2 /xsw2/deep \
    "xenstore-write /xsw2/deep/er 1"
# A watch fires for its node, not for siblings or parents; a permission
# change is a modification.
ok xenstore-write /xsw3/n 1 /xsw3/sib 1
watch_case "watch: perms change fires, sibling and parent writes do not" \
    $'/xsw3/n\n/xsw3/n\n/xsw3/n\n' 3 /xsw3/n \
    "xenstore-write /xsw3/sib 2" "xenstore-write /xsw3 3" \
    "xenstore-chmod /xsw3/n n0 r1" "xenstore-write /xsw3/n 4"
# A transactional write fires at commit, once per modified node.
ok xenstore-write /xsw4 ""
WATCH_SORT=1 watch_case "watch: two writes of one transaction" \
    $'/xsw4\n/xsw4/a\n/xsw4/b\n' 3 /xsw4 \
    "xenstore-write /xsw4/a 1 /xsw4/b 2"
# A failed (aborted) multi-key command changes nothing and fires nothing;
# the next write does.
watch_case "watch: aborted transaction fires nothing" \
    $'/xsw4\n/xsw4/c\n' 2 /xsw4 \
    "! xenstore-read /xsw4/a /xsw4/nope" "xenstore-write /xsw4/c 1"
# Special watches fire on registration like any other.
watch_case "watch: @introduceDomain fires on registration" \
    $'@introduceDomain\n' 1 @introduceDomain
# Deleting a watched node reports the node.
ok xenstore-write /xsw5/leaf 1
watch_case "watch: removal of the watched node" \
    $'/xsw5/leaf\n/xsw5/leaf\n' 2 /xsw5/leaf "xenstore-rm /xsw5/leaf"

echo "# $n checks, $fails failed (against $XS_KIND)"
if [ $fails -ne 0 ]; then
    printf '# FAILED: %s\n' "${failed_names[@]}"
    xs_dump_log
    exit 1
fi
exit 0
