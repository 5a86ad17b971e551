using Freshet.DataPlane.Tests.Destinations.DuckDb;

/// <summary>
/// Runs <see cref="ReaderProcess"/>'s child side when the test assembly is loaded as a startup hook
/// (<c>DOTNET_STARTUP_HOOKS</c>); the runtime finds the hook by this exact name, outside any namespace.
/// </summary>
internal static class StartupHook
{
    public static void Initialize()
    {
        // Only ReaderProcess sets this; a test run never loads the assembly as a startup hook.
        if (Environment.GetEnvironmentVariable("FRESHET_TEST_DUCKDB_READER_PATH") is null)
        {
            return;
        }

        Environment.Exit(ReaderProcess.RunAsync().GetAwaiter().GetResult());
    }
}
