namespace Freshet.Console.Tests;

/// <summary>The console is a client of the public REST API: it references no control-plane code and no database driver.</summary>
public sealed class ConsoleBoundaryTests
{
    [Fact]
    public void Console_ReferencesNeitherControlPlaneNorDataPlaneNorDatabaseAssemblies()
    {
        var references = typeof(ConsoleOptions).Assembly.GetReferencedAssemblies().Select(a => a.Name!).ToList();

        var offending = references.Where(name =>
            (name.StartsWith("Freshet.", StringComparison.Ordinal) && name != "Freshet.ServiceDefaults")
            || name.StartsWith("Npgsql", StringComparison.Ordinal)
            || name.StartsWith("Microsoft.EntityFrameworkCore", StringComparison.Ordinal)).ToList();

        Assert.True(offending.Count == 0,
            $"web/Freshet.Console references {string.Join(", ", offending)}. The console may read and change things only through the "
            + "control plane's REST API (Api/FreshetApi.cs): remove the reference and call the endpoint instead.");
        Assert.Contains("Freshet.ServiceDefaults", references);
    }
}
