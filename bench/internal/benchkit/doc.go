// Package benchkit is what the bench commands (bench/s3bench,
// bench/lambdabench, bench/eventsbench) share, so that each measures its
// own service and nothing else differs between them:
//
//   - Proc: a server process on a free loopback port in its own process
//     group, stopped with SIGTERM then SIGKILL, killed with the bench
//     (Pdeathsig), polled until ready, with its log for error messages;
//   - ParseProcStat, ProcCPU and TreeCPU: CPU time from /proc;
//   - S3Client: a lean path-style S3 client signing with SigV4;
//   - Summarize and NearestRank: exact nearest-rank percentiles;
//   - flag helpers (SplitList, ParseInts, ParseSizes, SizeLabel), the
//     interleaved slice order (TurnOrder), the machine description for
//     reports (CPUModel, LoadAvg, FSType, ...), report cells (Ratio,
//     FmtCPU, ErrCol), perf recording, and the main/work dir/report file
//     plumbing (Main, PrepareWorkDir, WriteReport, Logf).
//
// Concurrency: a Proc may be watched (Alive, Exited, ExitReason) from any
// goroutine but is stopped once, by its owner. An S3Client is safe for
// concurrent use. Everything else is a pure function or owns nothing shared.
package benchkit
