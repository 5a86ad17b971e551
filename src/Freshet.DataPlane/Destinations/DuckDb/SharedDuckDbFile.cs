using System.Collections.Concurrent;
using DuckDB.NET.Data;
using Microsoft.Extensions.Logging;

namespace Freshet.DataPlane.Destinations.DuckDb;

/// <summary>
/// The one DuckDB instance this process may have on a file, shared by every pipeline that writes there.
/// </summary>
/// <remarks>
/// DuckDB's file lock is a POSIX lock, which belongs to the process: a second instance on the same file in the same
/// process would not be stopped and would corrupt the file. DuckDB.NET already keeps one native instance per data source
/// string and closes it with its last connection; this class makes every writer use the same string (the full path),
/// opens the instance only while someone writes (closing it checkpoints and releases the OS lock for other processes),
/// retries while another process holds the file, lets waiting readers in (see <see cref="DuckDbFile"/>), and orders
/// writers: shared leases (snapshot chunks, which append in parallel) or one exclusive lease (everything else).
/// </remarks>
internal sealed partial class SharedDuckDbFile
{
    private static readonly ConcurrentDictionary<string, SharedDuckDbFile> Files = new(StringComparer.OrdinalIgnoreCase);

    private static readonly TimeSpan ReaderWaitLimit = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan ReaderPollInterval = TimeSpan.FromMilliseconds(10);
    private static readonly TimeSpan FirstRetryDelay = TimeSpan.FromMilliseconds(5);
    private static readonly TimeSpan MaxRetryDelay = TimeSpan.FromMilliseconds(100);

    // Readers are expected to be short; a file held longer than this is an error the engine retries.
    private static readonly TimeSpan LockRetryLimit = TimeSpan.FromSeconds(30);

    private readonly AsyncReaderWriterLock _writers = new();
    private readonly SemaphoreSlim _openClose = new(1, 1);
    private readonly string _connectionString;
    private DuckDBConnection? _instance;
    private int _users;

    private SharedDuckDbFile(string fullPath)
    {
        FullPath = fullPath;
        _connectionString = DuckDbFile.ConnectionString(fullPath, readOnly: false);
    }

    public string FullPath { get; }

    public static SharedDuckDbFile For(string fullPath)
    {
        var file = Files.GetOrAdd(fullPath, static path => new SharedDuckDbFile(path));
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
                if (_users == 0)
                {
                    _instance = await OpenInstanceAsync(logger, cancellationToken).ConfigureAwait(false);
                }

                _users++;
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

            return new Lease(this, connection, writer);
        }
        catch
        {
            writer.Dispose();
            throw;
        }
    }

    private async Task LetReadersInAsync(ILogger logger, CancellationToken cancellationToken)
    {
        if (!DuckDbFile.HasFreshReadRequest(FullPath))
        {
            return;
        }

        LogWaitingForReader(logger, FullPath);
        var time = TimeProvider.System;
        var started = time.GetTimestamp();
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

    private static async Task<bool> IsReadOnlyAsync(DuckDBConnection connection, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT current_setting('access_mode')";
        var mode = await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
        return string.Equals(mode as string, "read_only", StringComparison.OrdinalIgnoreCase);
    }

    private async Task ReleaseUserAsync()
    {
        await _openClose.WaitAsync(CancellationToken.None).ConfigureAwait(false);
        try
        {
            _users--;
            if (_users == 0 && _instance is { } instance)
            {
                _instance = null;

                // Closing the last connection closes the instance: DuckDB checkpoints the WAL into the file and drops its lock.
                await instance.DisposeAsync().ConfigureAwait(false);
            }
        }
        finally
        {
            _openClose.Release();
        }
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "A reader waits for the DuckDB file {Path}; holding the next write back")]
    private static partial void LogWaitingForReader(ILogger logger, string path);

    [LoggerMessage(Level = LogLevel.Information, Message = "The DuckDB file {Path} is held by another process; retrying")]
    private static partial void LogFileBusy(ILogger logger, string path);

    /// <summary>One writer's use of the file.</summary>
    internal sealed class Lease(SharedDuckDbFile file, DuckDBConnection connection, IDisposable writer) : IAsyncDisposable
    {
        private int _disposed;

        public DuckDBConnection Connection { get; } = connection;

        public async ValueTask DisposeAsync()
        {
            if (Interlocked.Exchange(ref _disposed, 1) != 0)
            {
                return;
            }

            try
            {
                await Connection.DisposeAsync().ConfigureAwait(false);
                await file.ReleaseUserAsync().ConfigureAwait(false);
            }
            finally
            {
                writer.Dispose();
            }
        }
    }
}
