#!/bin/bash
# The system-call filter: what hostile code must not reach, and what must keep working.
# One sandbox run probes every call (`attack syscalls`: each call in a child of its
# own, under a probe filter that tells the sandbox's filter from the kernel, see
# attack.c); one test point per call. A kill rule that ends the whole sandbox
# (status "seccomp") ends the batch; it counts for the call that was running if
# the result names that call, and the batch goes on from the next one.
. "$(dirname "$0")/lib.sh"
plan 63

r="$TMPD/r.json"
declare -A got sysname
names=()
while read -r n _ s; do names+=("$n"); sysname[$n]=$s; done < <("$ATTACK" list)
# result FILE: status, syscall and stdout (one line per call, joined by \x1f).
result() { python3 -c 'import json, sys
j = json.load(open(sys.argv[1]))
print(j["status"], j.get("syscall"), j["stdout"].strip().replace("\n", "\x1f"), sep="\t")' "$1"; }
# A batch of the calls not seen yet, in the order attack makes them; when a kill
# rule ends it, the first call missing is the one that was killed, if the result
# names that call. Otherwise (the probe itself killed) each call gets a run.
remaining=("${names[@]}") one_by_one=0
while [ ${#remaining[@]} -gt 0 ]; do
    if [ "$one_by_one" = 1 ]; then
        n=${remaining[0]} remaining=("${remaining[@]:1}")
        attack --json -- call "$n" > "$r"
        IFS=$'\t' read -r st sys so < <(result "$r")
        got[$n]=$(line "$n" "$so")
        if [ -n "${got[$n]}" ]; then :
        elif [ "$st" = seccomp ] && { [ "${sysname[$n]}" = - ] || [ "$sys" = "${sysname[$n]}" ]; }; then
            got[$n]="KILLED signal=SIGSYS"
        elif [ "$st" = seccomp ]; then
            got[$n]="RUN KILLED by $sys, before the attack"
        else
            got[$n]="NO RESULT (status $st)"
        fi
        continue
    fi
    attack --json -- syscalls "${remaining[@]}" > "$r"
    IFS=$'\t' read -r st sys so < <(result "$r")
    so=$(printf '%s' "$so" | tr '\037' '\n')
    [ -n "${method_shown:-}" ] || { printf '%s\n' "$so" | grep '^# method'; method_shown=1; }
    next=() killer=
    for n in "${remaining[@]}"; do
        l=$(line "$n" "$so")
        if [ -n "$l" ]; then
            got[$n]=$l
        elif [ "$st" = seccomp ] && [ -z "$killer" ]; then
            killer=$n
            if [ "${sysname[$n]}" = - ] || [ "$sys" = "${sysname[$n]}" ]; then
                got[$n]="KILLED signal=SIGSYS"
            else
                diag "a kill rule for $sys ended the batch before $n: one run per call from here"
                one_by_one=1 next+=("$n")
            fi
        else
            next+=("$n")
        fi
    done
    [ -n "$killer" ] || break
    remaining=("${next[@]}")
done
out=$(for n in "${!got[@]}"; do echo "$n: ${got[$n]}"; done)

# name ; the safe answer (regex) ; description
while IFS=';' read -r name want desc; do
    [ -n "$name" ] || continue
    denied "$name" "$want" "$desc"
done <<EOF
mount;$DENIED_EPERM;mount(2) is denied
umount2;$DENIED_EPERM;umount2(2) is denied
pivot_root;$DENIED_EPERM;pivot_root(2) is denied
unshare_newuser;$DENIED_EPERM;unshare(CLONE_NEWUSER) is denied
unshare_newns;$DENIED_EPERM;unshare(CLONE_NEWNS) is denied
unshare_newuser_newns;$DENIED_EPERM;unshare(CLONE_NEWUSER|CLONE_NEWNS) is denied
setns;$DENIED_EPERM;setns(2) is denied
clone_newuser;$DENIED_EPERM;clone(CLONE_NEWUSER) is denied
clone_newnet;$DENIED_EPERM;clone(CLONE_NEWUSER|CLONE_NEWNET) is denied
clone3;DENIED errno=(ENOSYS|EPERM)|KILLED signal=SIGSYS;clone3(2) is refused (its flags cannot be inspected)
ptrace_traceme;$DENIED_EPERM;ptrace(PTRACE_TRACEME) is denied
ptrace_attach;$DENIED_EPERM;ptrace(PTRACE_ATTACH) of a child is denied
process_vm_readv;$DENIED_EPERM;process_vm_readv(2) is denied
process_vm_writev;$DENIED_EPERM;process_vm_writev(2) is denied
kexec_load;$DENIED_EPERM;kexec_load(2) is denied
kexec_file_load;$DENIED_EPERM;kexec_file_load(2) is denied
init_module;$DENIED_EPERM;init_module(2) is denied
finit_module;$DENIED_EPERM;finit_module(2) is denied
delete_module;$DENIED_EPERM;delete_module(2) is denied
bpf;$DENIED_EPERM;bpf(2) is denied
perf_event_open;$DENIED_EPERM;perf_event_open(2) is denied
keyctl;$DENIED_EPERM;keyctl(2) is denied
add_key;$DENIED_EPERM;add_key(2) is denied
request_key;$DENIED_EPERM;request_key(2) is denied
userfaultfd;$DENIED_EPERM;userfaultfd(2) is denied
open_by_handle_at;$DENIED_EPERM;open_by_handle_at(2) ("shocker") is denied
name_to_handle_at;$DENIED_EPERM;name_to_handle_at(2) is denied
reboot;$DENIED_EPERM;reboot(2) is denied
swapon;$DENIED_EPERM;swapon(2) is denied
swapoff;$DENIED_EPERM;swapoff(2) is denied
syslog;$DENIED_EPERM;syslog(2) is denied
acct;$DENIED_EPERM;acct(2) is denied
settimeofday;$DENIED_EPERM;settimeofday(2) is denied
clock_settime;$DENIED_EPERM;clock_settime(2) is denied
adjtimex;$DENIED_EPERM;adjtimex(2) is denied
iopl;$DENIED_EPERM;iopl(2) is denied
ioperm;$DENIED_EPERM;ioperm(2) is denied
personality_bsd;$DENIED_EPERM;personality(PER_BSD) is denied
personality_read_implies_exec;$DENIED_EPERM;personality(READ_IMPLIES_EXEC) is denied
io_uring_setup;$DENIED_EPERM;io_uring_setup(2) is denied
socket_packet;$DENIED_EPERM;socket(AF_PACKET) is denied
netlink_audit;$DENIED_EPERM;socket(AF_NETLINK, NETLINK_AUDIT) is denied
netlink_sock_diag;$DENIED_EPERM;socket(AF_NETLINK, NETLINK_SOCK_DIAG) is denied
netlink_kobject_uevent;$DENIED_EPERM;socket(AF_NETLINK, NETLINK_KOBJECT_UEVENT) is denied
tiocsti;$DENIED_EPERM;ioctl(TIOCSTI) on a pty is denied
tiocsti_high_bits;$DENIED_EPERM;ioctl(0x100005412: TIOCSTI with high bits set) is denied
tioclinux;$DENIED_EPERM;ioctl(TIOCLINUX) on a pty is denied
fsopen;$DENIED_EPERM;fsopen(2) (the new mount API) is denied
fsmount;$DENIED_EPERM;fsmount(2) is denied
fspick;$DENIED_EPERM;fspick(2) is denied
open_tree;$DENIED_EPERM;open_tree(2) is denied
move_mount;$DENIED_EPERM;move_mount(2) is denied
mount_setattr;$DENIED_EPERM;mount_setattr(2) is denied
int80_getpid;DENIED errno=(EPERM|ENOSYS)|KILLED signal=SIGSYS;the 32-bit ABI (int \$0x80 getpid) is denied, no pid comes back
x32_getpid;DENIED errno=(EPERM|ENOSYS)|KILLED signal=SIGSYS;the x32 ABI (getpid | 0x40000000) is denied
personality_query;ALLOWED ret=[0-9]+;personality(0xffffffff) still works
personality_linux;ALLOWED ret=[0-9]+;personality(PER_LINUX) still works
netlink_route;ALLOWED ret=[0-9]+;socket(AF_NETLINK, NETLINK_ROUTE) still works
socket_inet;ALLOWED ret=[0-9]+;socket(AF_INET) still works
socket_inet6;ALLOWED ret=[0-9]+;socket(AF_INET6) still works
socket_unix;ALLOWED ret=[0-9]+;socket(AF_UNIX) still works
EOF

# The same attacks made directly by the command: refused, or the run is killed
# and the result names the call. (Both calls would work, or fail differently,
# if they reached the kernel: see attack.c.)
r="$TMPD/r.json"
for name in mount unshare_newuser; do
    attack --json -- call "$name" > "$r"
    st=$(jget "$r" status)
    if [ "$st" = seccomp ]; then
        is "$(jget "$r" syscall)" "${name%%_*}" "a direct $name ends the run with status seccomp, naming ${name%%_*}"
    else
        is "$st $(jget "$r" stdout)" "ok $name: DENIED errno=EPERM" "a direct $name fails with EPERM (status $st)"
    fi
done
done_testing
