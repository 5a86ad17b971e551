using DuckDB.NET.Data;

namespace Freshet.DataPlane.Destinations.DuckDb;

/// <summary>
/// Reading a DuckDB file that a Freshet pipeline writes to. DuckDB lets one process write a file, or any number of
/// processes read it, never both; the pipeline keeps the file open while it writes batch after batch and closes it
/// 250 ms after its last write. A reader asks for a gap by keeping a marker file (<c>&lt;path&gt;.read-request</c>) while
/// it waits: a writer that sees a fresh marker closes the file after its current write and holds the next one back for
/// a short while, so a reader gets in between two writes even when the pipeline writes continuously. Readers should keep the file open briefly: the pipeline waits for them.
/// </summary>
public static class DuckDbFile
{
    /// <summary>Appended to the database path to name the marker a waiting reader keeps.</summary>
    public const string ReadRequestSuffix = ".read-request";

    /// <summary>A marker older than this is ignored: its reader is gone or has waited too long already.</summary>
    public static readonly TimeSpan ReadRequestFreshness = TimeSpan.FromSeconds(5);

    private static readonly TimeSpan RetryInterval = TimeSpan.FromMilliseconds(10);

    // A waiting reader refreshes the marker well within its freshness, and recreates it when another reader that got
    // in first deleted it.
    private static readonly TimeSpan MarkerRefreshInterval = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Opens <paramref name="path"/> read-only, retrying every 10 ms while a writer holds it and keeping the read-request
    /// marker in place meanwhile. Throws <see cref="TimeoutException"/> when the file is still locked after
    /// <paramref name="timeout"/>. The caller disposes the connection, which releases the file.
    /// </summary>
    /// <remarks>
    /// In the process that runs the pipeline, the connection shares the pipeline's open DuckDB instance when there is one
    /// (DuckDB.NET keeps one instance per path and process), so it may then see a read-write instance.
    /// </remarks>
    public static async Task<DuckDBConnection> OpenReadOnlyAsync(string path, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var fullPath = Path.GetFullPath(path);
        var marker = fullPath + ReadRequestSuffix;
        var connectionString = ConnectionString(fullPath, readOnly: true);
        var time = TimeProvider.System;
        var started = time.GetTimestamp();
        var touched = started;
        TryTouch(marker);
        try
        {
            while (true)
            {
                var connection = new DuckDBConnection(connectionString);
                try
                {
                    await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
                    return connection;
                }
                catch (DuckDBException exception) when (IsLockConflict(exception))
                {
                    await connection.DisposeAsync().ConfigureAwait(false);
                    if (time.GetElapsedTime(started) >= timeout)
                    {
                        throw new TimeoutException($"The DuckDB file {fullPath} stayed locked by a writer for {timeout}.", exception);
                    }

                    if (time.GetElapsedTime(touched) >= MarkerRefreshInterval || !File.Exists(marker))
                    {
                        TryTouch(marker);
                        touched = time.GetTimestamp();
                    }

                    await Task.Delay(RetryInterval, time, cancellationToken).ConfigureAwait(false);
                }
                catch
                {
                    await connection.DisposeAsync().ConfigureAwait(false);
                    throw;
                }
            }
        }
        finally
        {
            TryDelete(marker);
        }
    }

    internal static string ConnectionString(string fullPath, bool readOnly)
    {
        var builder = new DuckDBConnectionStringBuilder { DataSource = fullPath };
        if (readOnly)
        {
            builder["access_mode"] = "READ_ONLY";
        }

        return builder.ConnectionString;
    }

    /// <summary>Whether opening failed because another process holds the file.</summary>
    /// <remarks>
    /// DuckDB reports a failed open as a plain error without an error type, so the message is the only signal there is.
    /// </remarks>
    internal static bool IsLockConflict(DuckDBException exception) =>
        exception.Message.Contains("Could not set lock on file", StringComparison.Ordinal);

    /// <summary>Whether a reader has asked for a gap within <see cref="ReadRequestFreshness"/>.</summary>
    internal static bool HasFreshReadRequest(string fullPath)
    {
        // File times are the operating system's wall clock, so they are compared with the system clock, not an injected one.
        var written = File.GetLastWriteTimeUtc(fullPath + ReadRequestSuffix);
        return written.Year > 1601 && TimeProvider.System.GetUtcNow().UtcDateTime - written < ReadRequestFreshness;
    }

    private static void TryTouch(string marker)
    {
        try
        {
            using (new FileStream(marker, FileMode.OpenOrCreate, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete))
            {
            }

            File.SetLastWriteTimeUtc(marker, TimeProvider.System.GetUtcNow().UtcDateTime);
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
        {
            // Without a marker the reader still gets in whenever the writer is between two writes.
        }
    }

    private static void TryDelete(string marker)
    {
        try
        {
            File.Delete(marker);
        }
        catch (Exception exception) when (exception is IOException or UnauthorizedAccessException)
        {
            // A marker left behind goes stale after ReadRequestFreshness.
        }
    }
}
