#!/bin/bash
# /dev: only harmless nodes, no disks, no kernel memory or log, a private devpts,
# and no way to the caller's terminal.
. "$(dirname "$0")/lib.sh"
plan 9

out=$(sbx -- ls -A /dev | tr '\n' ' ')
extra=$(printf '%s\n' $out | grep -Evx 'fd|full|null|ptmx|pts|random|shm|stderr|stdin|stdout|tty|urandom|zero|core|mqueue' | tr '\n' ' ')
is "$extra" "" "/dev holds only the safe entries ($out)"
# Every device node, /dev/pts included: null zero full random urandom tty ptmx.
out=$(sbx -- find /dev \( -type b -o -type c \) -exec stat -L -c '%F %t:%T %n' {} + 2>/dev/null)
bad=$(printf '%s\n' "$out" | grep -Ev '^character special file (1:3|1:5|1:7|1:8|1:9|5:0|5:2) ' | tr '\n' ';')
is "$bad" "" "every device node is one of null, zero, full, random, urandom, tty, ptmx"

out=$(attack -- open r:/dev/sda r:/dev/vda r:/dev/nvme0n1 r:/dev/mem r:/dev/kmem r:/dev/port r:/dev/kmsg)
is "$(line r:/dev/sda) $(line r:/dev/vda) $(line r:/dev/nvme0n1)" \
   "DENIED errno=ENOENT DENIED errno=ENOENT DENIED errno=ENOENT" "no disk can be opened (/dev/sda, /dev/vda, /dev/nvme0n1)"
is "$(line r:/dev/mem) $(line r:/dev/kmem) $(line r:/dev/port)" \
   "DENIED errno=ENOENT DENIED errno=ENOENT DENIED errno=ENOENT" "/dev/mem, /dev/kmem and /dev/port cannot be opened"
denied r:/dev/kmsg "DENIED errno=ENOENT" "/dev/kmsg cannot be opened"
out=$(attack -- mknod /dev/mem /tmp/mem /dev/shm/sda)
like "$(line mknod:/dev/mem) / $(line mknod:/tmp/mem) / $(line mknod:/dev/shm/sda)" \
     "^DENIED errno=(EPERM|EROFS) / DENIED errno=EPERM / DENIED errno=EPERM$" "mknod fails in /dev, /tmp and /dev/shm"

# As when sbx is run from an interactive shell: the caller's terminal is the
# controlling terminal of the shell that runs sbx.
# shellcheck disable=SC2016
out=$(in_pty "ls /dev/pts | tr '\n' ' '; echo; $PTY_SBX -- ls /dev/pts | tr '\n' ' '; echo")
hostpts=$(printf '%s\n' "$out" | sed -n 1p); boxpts=$(printf '%s\n' "$out" | sed -n 2p)
is "$boxpts" "ptmx " "a private devpts: none of the host's terminals (${hostpts}) shows in /dev/pts"
# The attack opens /dev/tty and pushes a command into its input; the shell that
# ran sbx then reads its next line (it would run it, were it interactive).
mark="INJECTED-$$-$RANDOM"
# shellcheck disable=SC2016
out=$(in_pty "stty -echo; $PTY_SBX --ro-bind \"\$ATTACK:/attack\" -- /attack tty 'echo $mark' > '$TMPD/tty.out'
              read -r -t 1 next; echo \"next line: [\$next]\"")
diag "$(cat "$TMPD/tty.out")" "$out"
like "$(line tty "$(cat "$TMPD/tty.out")")" "^DENIED errno=(ENXIO|EPERM|ENOENT|EACCES)$" \
     "the caller's terminal cannot be opened through /dev/tty"
like "$(line 'next line')" '^\[\]$' "nothing is pushed into the caller's terminal input (TIOCSTI)"
done_testing
