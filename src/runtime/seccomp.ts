/**
 * RUN's seccomp filter: the default profile of moby (moby/profiles seccomp/default.json, read at
 * cd3bed8), which BuildKit gives every RUN that is not `--security=insecure`
 * (executor/oci/spec_linux.go withDefaultProfile). The same rules, written as keel's data: a
 * syscall not allowed fails with EPERM; a rule applies only where its conditions hold, as moby's
 * setupSeccomp (seccomp_linux.go) filters them: `onlyWith` caps all granted (the bounding set),
 * `unlessWith` caps none granted, arches (Go's names) the host's, minKernel at most the running
 * kernel's. The host's architecture decides, not the image's: an emulated RUN's syscalls are
 * QEMU's, made on the host.
 */

interface Conditions {
  readonly caps?: readonly string[];
  readonly arches?: readonly string[];
  readonly minKernel?: string;
}

interface SyscallRule {
  /** Space-separated syscall names. */
  readonly names: string;
  /** Fail these with this errno instead of allowing them. */
  readonly errno?: number;
  /** Allow only when the argument compares so. */
  readonly arg?: { readonly index: number } & ({ readonly lt: number } | { readonly eq: number } | { readonly gt: number } | { readonly maskedEq: number });
  readonly onlyWith?: Conditions;
  readonly unlessWith?: Conditions;
}

const RULES: readonly SyscallRule[] = [
  { names: [
      'accept accept4 access adjtimex alarm bind brk cachestat capget capset chdir chmod chown chown32',
      'clock_adjtime clock_adjtime64 clock_getres clock_getres_time64 clock_gettime clock_gettime64',
      'clock_nanosleep clock_nanosleep_time64 close close_range connect copy_file_range creat dup dup2 dup3',
      'epoll_create epoll_create1 epoll_ctl epoll_ctl_old epoll_pwait epoll_pwait2 epoll_wait epoll_wait_old',
      'eventfd eventfd2 execve execveat exit exit_group faccessat faccessat2 fadvise64 fadvise64_64 fallocate',
      'fanotify_mark fchdir fchmod fchmodat fchmodat2 fchown fchown32 fchownat fcntl fcntl64 fdatasync',
      'fgetxattr flistxattr flock fork fremovexattr fsetxattr fstat fstat64 fstatat64 fstatfs fstatfs64 fsync',
      'ftruncate ftruncate64 futex futex_requeue futex_time64 futex_wait futex_waitv futex_wake futimesat',
      'getcpu getcwd getdents getdents64 getegid getegid32 geteuid geteuid32 getgid getgid32 getgroups',
      'getgroups32 getitimer getpeername getpgid getpgrp getpid getppid getpriority getrandom getresgid',
      'getresgid32 getresuid getresuid32 getrlimit get_robust_list getrusage getsid getsockname getsockopt',
      'get_thread_area gettid gettimeofday getuid getuid32 getxattr getxattrat inotify_add_watch inotify_init',
      'inotify_init1 inotify_rm_watch io_cancel ioctl io_destroy io_getevents io_pgetevents',
      'io_pgetevents_time64 ioprio_get ioprio_set io_setup io_submit ipc kill landlock_add_rule',
      'landlock_create_ruleset landlock_restrict_self lchown lchown32 lgetxattr link linkat listen listmount',
      'listxattr listxattrat llistxattr _llseek lremovexattr lseek lsetxattr lstat lstat64 madvise',
      'map_shadow_stack membarrier memfd_create memfd_secret mincore mkdir mkdirat mknod mknodat mlock mlock2',
      'mlockall mmap mmap2 mprotect mq_getsetattr mq_notify mq_open mq_timedreceive mq_timedreceive_time64',
      'mq_timedsend mq_timedsend_time64 mq_unlink mremap mseal msgctl msgget msgrcv msgsnd msync munlock',
      'munlockall munmap name_to_handle_at nanosleep newfstatat _newselect open openat openat2 pause pidfd_open',
      'pidfd_send_signal pipe pipe2 pkey_alloc pkey_free pkey_mprotect poll ppoll ppoll_time64 prctl pread64',
      'preadv preadv2 prlimit64 process_mrelease pselect6 pselect6_time64 pwrite64 pwritev pwritev2 read',
      'readahead readlink readlinkat readv recv recvfrom recvmmsg recvmmsg_time64 recvmsg remap_file_pages',
      'removexattr removexattrat rename renameat renameat2 restart_syscall riscv_hwprobe rmdir rseq',
      'rt_sigaction rt_sigpending rt_sigprocmask rt_sigqueueinfo rt_sigreturn rt_sigsuspend rt_sigtimedwait',
      'rt_sigtimedwait_time64 rt_tgsigqueueinfo sched_getaffinity sched_getattr sched_getparam',
      'sched_get_priority_max sched_get_priority_min sched_getscheduler sched_rr_get_interval',
      'sched_rr_get_interval_time64 sched_setaffinity sched_setattr sched_setparam sched_setscheduler',
      'sched_yield seccomp select semctl semget semop semtimedop semtimedop_time64 send sendfile sendfile64',
      'sendmmsg sendmsg sendto setfsgid setfsgid32 setfsuid setfsuid32 setgid setgid32 setgroups setgroups32',
      'setitimer setpgid setpriority setregid setregid32 setresgid setresgid32 setresuid setresuid32 setreuid',
      'setreuid32 setrlimit set_robust_list setsid setsockopt set_thread_area set_tid_address setuid setuid32',
      'setxattr setxattrat shmat shmctl shmdt shmget shutdown sigaltstack signalfd signalfd4 sigprocmask',
      'sigreturn socketcall socketpair splice stat stat64 statfs statfs64 statmount statx symlink symlinkat',
      'sync sync_file_range syncfs sysinfo tee tgkill time timer_create timer_delete timer_getoverrun',
      'timer_gettime timer_gettime64 timer_settime timer_settime64 timerfd_create timerfd_gettime',
      'timerfd_gettime64 timerfd_settime timerfd_settime64 times tkill truncate truncate64 ugetrlimit umask',
      'uname unlink unlinkat uretprobe utime utimensat utimensat_time64 utimes vfork vmsplice wait4 waitid',
      'waitpid write writev',
    ].join(' ') },
  { names: 'process_vm_readv process_vm_writev ptrace', onlyWith: { minKernel: '4.8' } },
  { names: 'socket', arg: { index: 0, lt: 38 } },
  { names: 'socket', arg: { index: 0, eq: 39 } },
  { names: 'socket', arg: { index: 0, gt: 40 } },
  { names: 'personality', arg: { index: 0, eq: 0 } },
  { names: 'personality', arg: { index: 0, eq: 8 } },
  { names: 'personality', arg: { index: 0, eq: 131072 } },
  { names: 'personality', arg: { index: 0, eq: 131080 } },
  { names: 'personality', arg: { index: 0, eq: 4294967295 } },
  { names: 'sync_file_range2 swapcontext', onlyWith: { arches: ['ppc64le'] } },
  { names: 'arm_fadvise64_64 arm_sync_file_range sync_file_range2 breakpoint cacheflush set_tls', onlyWith: { arches: ['arm', 'arm64'] } },
  { names: 'arch_prctl', onlyWith: { arches: ['amd64', 'x32'] } },
  { names: 'modify_ldt', onlyWith: { arches: ['amd64', 'x32', 'x86'] } },
  { names: 's390_pci_mmio_read s390_pci_mmio_write s390_runtime_instr', onlyWith: { arches: ['s390', 's390x'] } },
  { names: 'riscv_flush_icache', onlyWith: { arches: ['riscv64'] } },
  { names: 'open_by_handle_at', onlyWith: { caps: ['CAP_DAC_READ_SEARCH'] } },
  { names: [
      'bpf clone clone3 fanotify_init fsconfig fsmount fsopen fspick lookup_dcookie lsm_get_self_attr',
      'lsm_list_modules lsm_set_self_attr mount mount_setattr move_mount open_tree perf_event_open quotactl',
      'quotactl_fd setdomainname sethostname setns syslog umount umount2 unshare',
    ].join(' '), onlyWith: { caps: ['CAP_SYS_ADMIN'] } },
  { names: 'clone', arg: { index: 0, maskedEq: 2114060288 }, unlessWith: { caps: ['CAP_SYS_ADMIN'], arches: ['s390', 's390x'] } },
  { names: 'clone', arg: { index: 1, maskedEq: 2114060288 }, onlyWith: { arches: ['s390', 's390x'] }, unlessWith: { caps: ['CAP_SYS_ADMIN'] } },
  { names: 'clone3', errno: 38, unlessWith: { caps: ['CAP_SYS_ADMIN'] } },
  { names: 'reboot', onlyWith: { caps: ['CAP_SYS_BOOT'] } },
  { names: 'chroot', onlyWith: { caps: ['CAP_SYS_CHROOT'] } },
  { names: 'delete_module init_module finit_module', onlyWith: { caps: ['CAP_SYS_MODULE'] } },
  { names: 'acct', onlyWith: { caps: ['CAP_SYS_PACCT'] } },
  { names: 'kcmp pidfd_getfd process_madvise process_vm_readv process_vm_writev ptrace', onlyWith: { caps: ['CAP_SYS_PTRACE'] } },
  { names: 'iopl ioperm', onlyWith: { caps: ['CAP_SYS_RAWIO'] } },
  { names: 'settimeofday stime clock_settime clock_settime64', onlyWith: { caps: ['CAP_SYS_TIME'] } },
  { names: 'vhangup', onlyWith: { caps: ['CAP_SYS_TTY_CONFIG'] } },
  { names: 'get_mempolicy mbind set_mempolicy set_mempolicy_home_node', onlyWith: { caps: ['CAP_SYS_NICE'] } },
  { names: 'syslog', onlyWith: { caps: ['CAP_SYSLOG'] } },
  { names: 'bpf', onlyWith: { caps: ['CAP_BPF'] } },
  { names: 'perf_event_open', onlyWith: { caps: ['CAP_PERFMON'] } },
];

/** Go's GOARCH names (the profile's `arches`) by Node's `process.arch`. */
const GO_ARCH: Readonly<Partial<Record<NodeJS.Architecture, string>>> = {
  x64: 'amd64', ia32: 'x86', arm: 'arm', arm64: 'arm64', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64', loong64: 'loongarch64', mips: 'mips64', mipsel: 'mipsel64',
};

/** The seccomp architectures a filter covers on each host (the profile's archMap). */
const ARCH_MAP: Readonly<Record<string, readonly string[]>> = {
  amd64: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'],
  arm64: ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM'],
  mips64: ['SCMP_ARCH_MIPS64', 'SCMP_ARCH_MIPS', 'SCMP_ARCH_MIPS64N32'],
  mipsel64: ['SCMP_ARCH_MIPSEL64', 'SCMP_ARCH_MIPSEL', 'SCMP_ARCH_MIPSEL64N32'],
  s390x: ['SCMP_ARCH_S390X', 'SCMP_ARCH_S390'],
  riscv64: ['SCMP_ARCH_RISCV64'],
  loongarch64: ['SCMP_ARCH_LOONGARCH64'],
};

/** linux.seccomp of an OCI runtime spec. */
export interface LinuxSeccomp {
  readonly defaultAction: 'SCMP_ACT_ERRNO';
  readonly defaultErrnoRet: number;
  readonly architectures: readonly string[];
  readonly syscalls: ReadonlyArray<{
    readonly names: readonly string[];
    readonly action: 'SCMP_ACT_ALLOW' | 'SCMP_ACT_ERRNO';
    readonly errnoRet?: number;
    readonly args?: ReadonlyArray<{ readonly index: number; readonly value: number; readonly valueTwo?: number; readonly op: string }>;
  }>;
}

/** Whether kernel release `running` (`6.1.0-18-amd64`) is at least `min` (`4.8`). */
function kernelAtLeast(running: string, min: string): boolean {
  const [a = 0, b = 0] = running.split(/[.-]/).map(Number);
  const [x = 0, y = 0] = min.split('.').map(Number);
  return a > x || (a === x && b >= y);
}

/** moby's default profile for a process with these capabilities, on this host. */
export function defaultSeccomp(caps: readonly string[], host: { readonly arch: NodeJS.Architecture; readonly kernel: string }): LinuxSeccomp {
  const arch = GO_ARCH[host.arch] ?? host.arch;
  const granted = new Set(caps);
  const holds = (c: Conditions | undefined, all: boolean): boolean => {
    if (c === undefined) return all; // no onlyWith: applies; no unlessWith: nothing excludes it
    const tests: boolean[] = [];
    if (c.arches !== undefined) tests.push(c.arches.includes(arch));
    if (c.caps !== undefined) tests.push(all ? c.caps.every((k) => granted.has(k)) : c.caps.some((k) => granted.has(k)));
    if (c.minKernel !== undefined) tests.push(kernelAtLeast(host.kernel, c.minKernel));
    return all ? tests.every(Boolean) : tests.some(Boolean);
  };
  const syscalls: LinuxSeccomp['syscalls'][number][] = [];
  for (const rule of RULES) {
    if (!holds(rule.onlyWith, true) || holds(rule.unlessWith, false)) continue;
    const names = rule.names.split(' ');
    if (rule.errno !== undefined) {
      syscalls.push({ names, action: 'SCMP_ACT_ERRNO', errnoRet: rule.errno });
      continue;
    }
    const a = rule.arg;
    const args = a === undefined ? undefined
      : 'lt' in a ? [{ index: a.index, value: a.lt, op: 'SCMP_CMP_LT' }]
        : 'eq' in a ? [{ index: a.index, value: a.eq, op: 'SCMP_CMP_EQ' }]
          : 'gt' in a ? [{ index: a.index, value: a.gt, op: 'SCMP_CMP_GT' }]
            : [{ index: a.index, value: a.maskedEq, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }];
    syscalls.push({ names, action: 'SCMP_ACT_ALLOW', ...(args === undefined ? {} : { args }) });
  }
  return { defaultAction: 'SCMP_ACT_ERRNO', defaultErrnoRet: 1, architectures: ARCH_MAP[arch] ?? [], syscalls };
}
