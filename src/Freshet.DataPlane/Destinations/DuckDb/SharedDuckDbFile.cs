using System.Collections.Concurrent;
using System.Data.Common;
using System.Globalization;
using DuckDB.NET.Data;
using DuckDB.NET.Native;
using Microsoft.Extensions.Logging;

namespace Freshet.DataPlane.Destinations.DuckDb;

/// <summary>
/// The one DuckDB instance this process may have on a file, shared by every pipeline that writes there.
/// </summary>
/// <remarks>
/// DuckDB's file lock is a POSIX lock, which belongs to the process: a second instance on the same file in the same
/// process would not be stopped and would corrupt the file. DuckDB.NET already keeps one native instance per data source
/// string and closes it with its last connection; this class makes every writer use the same string (the full path),
/// retries while another process holds the file, lets waiting readers in (see <see cref="DuckDbFile"/>), and orders
/// writers: shared leases (snapshot chunks, which append in parallel) or one exclusive lease (everything else).
/// <para>
/// The instance stays open between writes that follow each other closely, and is closed (which checkpoints the WAL into
/// the file and releases the OS lock for other processes) when the writes pause for <see cref="IdleCloseDelay"/>, when a
/// reader asks for the file, and when a destination on it is disposed. Opening and closing per write cost a streaming
/// pipeline most of its time: about 25 ms to open and 60–110 ms to checkpoint on close for a 12,000-row batch.
/// </para>
/// </remarks>
internal sealed partial class SharedDuckDbFile
{
    private static readonly ConcurrentDictionary<string, SharedDuckDbFile> Files = new(StringComparer.OrdinalIgnoreCase);

    private static readonly TimeSpan ReaderWaitLimit = TimeSpan.FromSeconds(2);

    // After a hold-off window for a reader, writers write at least this long before the next one.
    private static readonly TimeSpan WriterTurn = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan ReaderPollInterval = TimeSpan.FromMilliseconds(10);
    private static readonly TimeSpan FirstRetryDelay = TimeSpan.FromMilliseconds(5);
    private static readonly TimeSpan MaxRetryDelay = TimeSpan.FromMilliseconds(100);

    /// <summary>How long the file stays open after the last write; a reader waits at most this long plus one write.</summary>
    internal static readonly TimeSpan IdleCloseDelay = TimeSpan.FromMilliseconds(250);

    // Readers are expected to be short; a file held longer than this is an error the engine retries.
    private static readonly TimeSpan LockRetryLimit = TimeSpan.FromSeconds(30);

    private readonly AsyncReaderWriterLock _writers = new();
    private readonly SemaphoreSlim _openClose = new(1, 1);
    private readonly string _connectionString;
    private readonly ITimer _idleClose;
    private readonly DuckDbResources _resources;
    private int _memoryLimitMb;
    private long _holdOffStarted;
    private DuckDBConnection? _instance;

    /// <summary>
    /// A connection to the instance that a finished write handed back clean (see <see cref="Lease.KeepConnection"/>), for
    /// the next write: opening one costs milliseconds per batch. Under <c>_openClose</c>; closed with the instance.
    /// </summary>
    private DuckDBConnection? _spare;
    private int _users;

    /// <summary>
    /// Set when a commit failed (see <see cref="DiscardAsync"/>): the instance closes without a checkpoint once its last
    /// user is gone, and no write may start on it meanwhile. Completed when it has closed. Under <c>_openClose</c>.
    /// </summary>
    private TaskCompletionSource? _discarded;

    private SharedDuckDbFile(string fullPath, DuckDbResources resources)
    {
        FullPath = fullPath;
        _resources = resources;
        _memoryLimitMb = resources.MemoryLimitMb;
        _connectionString = DuckDbFile.ConnectionString(fullPath, readOnly: false);
        _idleClose = TimeProvider.System.CreateTimer(
            static state => _ = ((SharedDuckDbFile)state!).CloseIfUnusedAsync(),
            this,
            Timeout.InfiniteTimeSpan,
            Timeout.InfiniteTimeSpan);
    }

    public string FullPath { get; }

    /// <summary>The memory limit the instance runs under now.</summary>
    public int MemoryLimitMb => Volatile.Read(ref _memoryLimitMb);

    /// <summary>The file's writer; the resources of the first destination on a file hold for every later one.</summary>
    public static SharedDuckDbFile For(string fullPath, DuckDbResources resources)
    {
        var file = Files.GetOrAdd(fullPath, static (path, r) => new SharedDuckDbFile(path, r), resources);
        if (!string.Equals(file.FullPath, fullPath, StringComparison.Ordinal))
        {
            // DuckDB.NET looks instances up by path ignoring case, so these two files would share one instance.
            throw new InvalidOperationException(
                $"The DuckDB files {file.FullPath} and {fullPath} differ only in case; one process cannot write both.");
        }

        return file;
    }

    /// <summary>Opens a connection for one write; disposing the lease closes it, and the file when nobody else writes.</summary>
    public async Task<Lease> AcquireAsync(bool exclusive, ILogger logger, CancellationToken cancellationToken)
    {
        await LetReadersInAsync(logger, cancellationToken).ConfigureAwait(false);
        var writer = exclusive
            ? await _writers.EnterExclusiveAsync(cancellationToken).ConfigureAwait(false)
            : await _writers.EnterSharedAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await _openClose.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                // A discarded instance must be gone before the file opens again: DuckDB.NET would hand out a connection
                // to it rather than a fresh instance that replays the WAL.
                while (_discarded is { } discarded)
                {
                    _openClose.Release();
                    try
                    {
                        await discarded.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
                    }
                    finally
                    {
                        await _openClose.WaitAsync(CancellationToken.None).ConfigureAwait(false);
                    }
                }

                if (_instance is null)
                {
                    _instance = await OpenInstanceAsync(logger, cancellationToken).ConfigureAwait(false);
                }

                _users++;
                if (_spare is { } spare)
                {
                    _spare = null;
                    return new Lease(this, spare, writer, logger);
                }
            }
            finally
            {
                _openClose.Release();
            }

            var connection = new DuckDBConnection(_connectionString);
            try
            {
                // The instance is open, so DuckDB.NET hands out a connection to it rather than opening the file again.
                await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
            }
            catch
            {
                await connection.DisposeAsync().ConfigureAwait(false);
                await ReleaseUserAsync().ConfigureAwait(false);
                throw;
            }

            return new Lease(this, connection, writer, logger);
        }
        catch
        {
            writer.Dispose();
            throw;
        }
    }

    /// <summary>
    /// After a commit failed: DuckDB may have merged part of the transaction's rows into its in-memory tables before the
    /// failure and not taken them out again (seen after a commit ran out of memory: the rows stayed invisible in this
    /// instance, and the checkpoint that closing the instance runs wrote them into the file, so the batch retried after
    /// it landed twice). Nothing in memory can be trusted then; what was committed is in the file and its WAL. So the
    /// instance is closed without a checkpoint as soon as its users are done (writes already under way still commit to
    /// the WAL), and the next write opens the file afresh, which replays the WAL. A commit that ran out of memory
    /// also raises the limit the next instance starts with.
    /// </summary>
    /// <returns>Whether the memory limit grew (so the write is worth trying again on the reopened file).</returns>
    public async Task<bool> DiscardAsync(Exception cause, ILogger logger)
    {
        await _openClose.WaitAsync(CancellationToken.None).ConfigureAwait(false);
        try
        {
            if (_discarded is not null || _instance is not { } instance)
            {
                return false;
            }

            // A constraint error quotes row values; the others say what went wrong with the storage.
            var duck = cause as DuckDBException;
            LogDiscarding(logger, FullPath, cause.GetType().Name, duck?.ErrorType.ToString(), duck is { ErrorType: DuckDBErrorType.Constraint } ? "" : cause.Message);
            // The next instance starts under the new limit (LimitAsync); this one is about to close.
            var raised = IsOutOfMemory(cause) && GrowMemoryLimit(logger);

            // Instance-wide: no checkpoint when the last connection closes, nor when a commit still under way fills the WAL.
            // (On the instance's own idle connection: the failed one may still count its transaction as open.)
            await using (var command = instance.CreateCommand())
            {
                command.CommandText = "PRAGMA disable_checkpoint_on_shutdown; SET checkpoint_threshold = '1000000GB'";
                await command.ExecuteNonQueryAsync(CancellationToken.None).ConfigureAwait(false);
            }

            _discarded = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _idleClose.Change(Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
            return raised;
        }
        finally
        {
            _openClose.Release();
        }
    }

    /// <summary>
    /// Closes the instance unless a writer uses it (the next write opens it again). Called when a destination is disposed,
    /// so that a stopped pipeline leaves its file checkpointed and free for other processes.
    /// </summary>
    public async Task CloseIfUnusedAsync()
    {
        await _openClose.WaitAsync(CancellationToken.None).ConfigureAwait(false);
        try
        {
            if (_users == 0)
            {
                await CloseInstanceAsync().ConfigureAwait(false);
            }
        }
        finally
        {
            _openClose.Release();
        }
    }

    // Under _openClose, with no users.
    private async Task CloseInstanceAsync()
    {
        if (_spare is { } spare)
        {
            _spare = null;
            await spare.DisposeAsync().ConfigureAwait(false);
        }

        if (_instance is { } instance)
        {
            _instance = null;

            // Closing the last connection closes the instance: DuckDB checkpoints the WAL into the file (unless the
            // instance was discarded) and drops its lock.
            await instance.DisposeAsync().ConfigureAwait(false);
        }

        if (_discarded is { } discarded)
        {
            _discarded = null;
            discarded.TrySetResult();
        }
    }

    private async Task LetReadersInAsync(ILogger logger, CancellationToken cancellationToken)
    {
        var time = TimeProvider.System;
        if (!DuckDbFile.HasFreshReadRequest(FullPath))
        {
            Volatile.Write(ref _holdOffStarted, 0);
            return;
        }

        // Writers hold off together, in one window per file: each waiting on its own clock would let a late writer
        // reopen the file the moment an earlier one's wait ended, so that with writes overlapping (parallel snapshot
        // chunks) the number of users might never reach zero while the reader waits. Windows alternate with turns for
        // the writers, so neither side starves.
        var started = Volatile.Read(ref _holdOffStarted);
        if (started == 0 || time.GetElapsedTime(started) >= ReaderWaitLimit + WriterTurn)
        {
            started = time.GetTimestamp();
            Volatile.Write(ref _holdOffStarted, started);
        }

        if (time.GetElapsedTime(started) >= ReaderWaitLimit)
        {
            return;
        }

        LogWaitingForReader(logger, FullPath);

        // Writers still holding the instance close it when the last of them is done (see ReleaseUserAsync).
        await CloseIfUnusedAsync().ConfigureAwait(false);
        while (DuckDbFile.HasFreshReadRequest(FullPath) && time.GetElapsedTime(started) < ReaderWaitLimit)
        {
            await Task.Delay(ReaderPollInterval, time, cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task<DuckDBConnection> OpenInstanceAsync(ILogger logger, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(FullPath)!);
        var time = TimeProvider.System;
        var started = time.GetTimestamp();
        var delay = FirstRetryDelay;
        var attempt = 0;
        while (true)
        {
            var connection = new DuckDBConnection(_connectionString);
            Exception? conflict;
            try
            {
                await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
                if (!await IsReadOnlyAsync(connection, cancellationToken).ConfigureAwait(false))
                {
                    await LimitAsync(connection, cancellationToken).ConfigureAwait(false);
                    return connection;
                }

                // A reader in this process opened the file read-only and DuckDB.NET shared its instance with us.
                conflict = null;
            }
            catch (DuckDBException exception) when (DuckDbFile.IsLockConflict(exception))
            {
                conflict = exception;
            }
            catch
            {
                await connection.DisposeAsync().ConfigureAwait(false);
                throw;
            }

            await connection.DisposeAsync().ConfigureAwait(false);
            attempt++;
            if (time.GetElapsedTime(started) >= LockRetryLimit)
            {
                throw new TimeoutException($"The DuckDB file {FullPath} stayed locked by another reader or writer for {LockRetryLimit}.", conflict);
            }

            if (attempt == 1)
            {
                LogFileBusy(logger, FullPath);
            }

            await Task.Delay(delay, time, cancellationToken).ConfigureAwait(false);
            delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, MaxRetryDelay.Ticks));
        }
    }

    private const string AllocatorSettings =
        "SET allocator_flush_threshold = '4MB'; SET allocator_bulk_deallocation_flush_threshold = '4MB'; SET allocator_background_threads = true";

    private async Task LimitAsync(DuckDBConnection connection, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();

        // Instance-wide settings: they hold for every connection to this instance until it closes.
        // The allocator settings: DuckDB's own allocator (jemalloc) keeps freed memory for reuse and by default hands it
        // back only once a thread has held 128 MB (512 MB for one large free). memory_limit does not count that memory,
        // and our writes run on .NET threads, not DuckDB's task threads: a snapshot's copies left about 120 MB of it
        // resident beside a buffer pool of 25 MB (worker peaks of 255-330 MB). Handing it back early, with a background
        // thread that purges it, brought the peak to 250-295 MB at the same speed.
        command.CommandText = string.Create(
            CultureInfo.InvariantCulture,
            $"SET memory_limit = '{Volatile.Read(ref _memoryLimitMb)}MB'; SET threads = {_resources.Threads}; SET checkpoint_threshold = '{_resources.CheckpointThresholdMb}MB'; {AllocatorSettings}");
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// After a write ran out of memory: doubles the instance's memory limit (for the rest of the process's life) and
    /// says whether it grew, so the write is worth trying again. Wide rows in a large batch can need more than the
    /// steady state does; a fixed small limit would stop such a pipeline for good, a large one would cost every
    /// pipeline its memory all the time.
    /// </summary>
    public async Task<bool> RaiseMemoryLimitAsync(ILogger logger, CancellationToken cancellationToken)
    {
        await _openClose.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (!GrowMemoryLimit(logger))
            {
                return false;
            }

            if (_instance is { } instance)
            {
                await LimitAsync(instance, cancellationToken).ConfigureAwait(false);
            }

            return true;
        }
        finally
        {
            _openClose.Release();
        }
    }

    /// <summary>Doubles the memory limit up to the maximum; false when it is there already. Under <c>_openClose</c>.</summary>
    private bool GrowMemoryLimit(ILogger logger)
    {
        var current = _memoryLimitMb;
        if (current >= _resources.MaxMemoryLimitMb)
        {
            return false;
        }

        _memoryLimitMb = Math.Min(current * 2, _resources.MaxMemoryLimitMb);
        LogMemoryLimitRaised(logger, FullPath, current, _memoryLimitMb);
        return true;
    }

    /// <summary>Whether DuckDB refused an operation for lack of memory under its limit.</summary>
    public static bool IsOutOfMemory(Exception exception) =>
        IsOutOfMemory(exception as DuckDBException) || IsOutOfMemory(exception.InnerException as DuckDBException)
        || exception is DuckDbAppendException { ErrorType: DuckDBErrorType.OutOfMemory }
        || exception.InnerException is DuckDbAppendException { ErrorType: DuckDBErrorType.OutOfMemory };

    // A commit that cannot pin or allocate the blocks it writes fails as a transaction error ("Failed to commit: could
    // not allocate block of size 256.0 KiB"), not as out-of-memory (and leaves the instance in doubt, see DiscardAsync).
    private static bool IsOutOfMemory(DuckDBException? exception) =>
        exception is { ErrorType: DuckDBErrorType.OutOfMemory }
        || (exception is { ErrorType: DuckDBErrorType.Transaction }
            && (exception.Message.Contains("failed to pin block", StringComparison.OrdinalIgnoreCase)
                || exception.Message.Contains("could not allocate block", StringComparison.OrdinalIgnoreCase)));

    private static async Task<bool> IsReadOnlyAsync(DuckDBConnection connection, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT current_setting('access_mode')";
        var mode = await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
        return string.Equals(mode as string, "read_only", StringComparison.OrdinalIgnoreCase);
    }

    private async Task ReleaseUserAsync(DuckDBConnection? spare = null)
    {
        await _openClose.WaitAsync(CancellationToken.None).ConfigureAwait(false);
        try
        {
            if (spare is not null)
            {
                if (_instance is not null && _spare is null && _discarded is null)
                {
                    _spare = spare;
                }
                else
                {
                    await spare.DisposeAsync().ConfigureAwait(false);
                }
            }

            _users--;
            if (_users == 0 && _instance is not null)
            {
                if (_discarded is not null || DuckDbFile.HasFreshReadRequest(FullPath))
                {
                    await CloseInstanceAsync().ConfigureAwait(false);
                }
                else
                {
                    // Restarted by every release, so the file closes once the writes pause.
                    _idleClose.Change(IdleCloseDelay, Timeout.InfiniteTimeSpan);
                }
            }
        }
        finally
        {
            _openClose.Release();
        }
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "A reader waits for the DuckDB file {Path}; holding the next write back")]
    private static partial void LogWaitingForReader(ILogger logger, string path);

    [LoggerMessage(Level = LogLevel.Warning, Message = "A write to the DuckDB file {Path} ran out of memory; its memory limit grows from {FromMb} MB to {ToMb} MB")]
    private static partial void LogMemoryLimitRaised(ILogger logger, string path, int fromMb, int toMb);

    [LoggerMessage(Level = LogLevel.Warning, Message = "A commit to the DuckDB file {Path} failed ({Exception}, DuckDB error type {ErrorType}: {Message}); the instance is closed without a checkpoint and the file opened again from its WAL")]
    private static partial void LogDiscarding(ILogger logger, string path, string exception, string? errorType, string message);

    [LoggerMessage(Level = LogLevel.Information, Message = "The DuckDB file {Path} is held by another process; retrying")]
    private static partial void LogFileBusy(ILogger logger, string path);

    /// <summary>One writer's use of the file.</summary>
    internal sealed class Lease(SharedDuckDbFile file, DuckDBConnection connection, IDisposable writer, ILogger logger) : IAsyncDisposable
    {
        private int _disposed;
        private bool _keep;

        public DuckDBConnection Connection { get; } = connection;

        /// <summary>
        /// Commits <paramref name="transaction"/>. When the commit fails the instance is discarded (see
        /// <see cref="DiscardAsync"/>) and <see cref="DuckDbCommitFailedException"/> thrown: the write must not be retried
        /// on this instance, only after the file was opened again.
        /// </summary>
        public async Task CommitAsync(DbTransaction transaction, CancellationToken cancellationToken)
        {
            try
            {
                await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception exception)
            {
                var raised = await file.DiscardAsync(exception, logger).ConfigureAwait(false);
                throw new DuckDbCommitFailedException(file.FullPath, exception) { MemoryLimitRaised = raised };
            }
        }

        /// <summary>
        /// Says the connection is as a fresh one would be (no open transaction, no temp tables), so the next write may
        /// use it instead of opening another. A lease that ends without it (a failed write) closes its connection.
        /// </summary>
        public void KeepConnection() => _keep = true;

        public async ValueTask DisposeAsync()
        {
            if (Interlocked.Exchange(ref _disposed, 1) != 0)
            {
                return;
            }

            try
            {
                if (!_keep)
                {
                    await Connection.DisposeAsync().ConfigureAwait(false);
                }

                await file.ReleaseUserAsync(_keep ? Connection : null).ConfigureAwait(false);
            }
            finally
            {
                writer.Dispose();
            }
        }
    }
}

/// <summary>What one DuckDB instance may use (see <see cref="DataPlaneOptions.DuckDbMemoryLimitMb"/>).</summary>
/// <param name="MemoryLimitMb">DuckDB's <c>memory_limit</c> to start with.</param>
/// <param name="MaxMemoryLimitMb">The most it grows to after writes that ran out of memory.</param>
/// <param name="Threads">DuckDB's <c>threads</c>.</param>
/// <param name="CheckpointThresholdMb">DuckDB's <c>checkpoint_threshold</c>.</param>
internal sealed record DuckDbResources(int MemoryLimitMb, int MaxMemoryLimitMb, int Threads, int CheckpointThresholdMb = 128)
{
    public static DuckDbResources Default { get; } = From(new DataPlaneOptions());

    public static DuckDbResources From(DataPlaneOptions options) =>
        new(options.DuckDbMemoryLimitMb, options.DuckDbMaxMemoryLimitMb, options.DuckDbThreads, options.DuckDbCheckpointThresholdMb);
}

/// <summary>
/// A commit to a DuckDB file failed; the instance was discarded, so what the transaction wrote is either all in the file
/// or not at all, and the run that wrote it starts again from the destination's checkpoint.
/// </summary>
/// (The message leaves the cause's text out: a constraint error quotes row values.)
internal sealed class DuckDbCommitFailedException(string path, Exception inner)
    : Exception($"A commit to the DuckDB file {path} failed ({(inner as DuckDBException)?.ErrorType.ToString() ?? inner.GetType().Name})", inner)
{
    /// <summary>The commit ran out of memory and the reopened file will have a larger limit.</summary>
    public bool MemoryLimitRaised { get; init; }
}
