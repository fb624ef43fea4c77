/**
 * RUN cases compared with docker build file by file: on the host's platform (test/builder/run.test.ts)
 * and, through QEMU, for linux/arm64 (test/builder/platforms.test.ts). `base` is the FROM image.
 */
export interface RunCase {
  readonly name: string;
  readonly dockerfile: (base: string) => string;
  /** What `docker run` of the image prints. */
  readonly runs: string;
  readonly files?: Readonly<Record<string, string>>;
}

export const RUN_CASES: readonly RunCase[] = [
  {
    name: 'run-files',
    dockerfile: (base) => [
      `FROM ${base}`,
      'RUN echo made > /made.txt && echo changed > /etc/motd && rm /bin/false',
      'RUN rm -r /old && mkdir -p /old/new && echo n > /old/new/y',
      'RUN ln -s /made.txt /link && ln /made.txt /hard && touch /suid /private && chmod 4755 /suid && chmod 600 /private && mkdir /sticky && chmod 1777 /sticky',
      'RUN echo again >> /made.txt',
      'CMD ["cat", "/made.txt", "/etc/motd"]',
    ].join('\n'),
    runs: 'made\nagain\nchanged\n',
  },
  {
    name: 'run-then-copy',
    dockerfile: (base) => [
      `FROM ${base} AS made`,
      'WORKDIR /w',
      'COPY seed.txt .',
      'RUN echo made > made.txt && cat seed.txt >> made.txt && rm seed.txt && mkdir sub && echo s > sub/s && ln -s made.txt link',
      'RUN echo again >> made.txt',
      `FROM ${base}`,
      'COPY --from=made /w/ /copied/',
      'CMD ["cat", "/copied/made.txt"]',
    ].join('\n'),
    runs: 'made\nseed\nagain\n',
    files: { 'seed.txt': 'seed\n' },
  },
];

/** Files every RUN case's base has besides busybox: what the cases change and delete. */
export const RUN_CASE_BASE_FILES: Readonly<Record<string, string>> = { 'old/inner/x': 'x', 'etc/motd': 'base motd\n' };
