namespace Freshet.Architecture.Tests;

/// <summary>Files of the repository these tests run from, found by walking up to <c>ControlPlane.sln</c>.</summary>
internal static class Repository
{
    public static string Root { get; } = FindRoot();

    public static string PathOf(params string[] parts) => Path.Combine([Root, .. parts]);

    public static string Read(params string[] parts)
    {
        var path = PathOf(parts);
        Assert.True(File.Exists(path), $"Expected the file {Relative(path)} in the repository.");
        return File.ReadAllText(path);
    }

    public static string Relative(string path) => Path.GetRelativePath(Root, path).Replace('\\', '/');

    /// <summary>Hand-written C# under src/ (no build output, no generated migrations), by repository-relative path.</summary>
    public static IReadOnlyDictionary<string, string> SourceFiles { get; } = LoadSourceFiles("src");

    /// <summary>Hand-written C# under web/ (the console), by repository-relative path.</summary>
    public static IReadOnlyDictionary<string, string> WebSourceFiles { get; } = LoadSourceFiles("web");

    private static Dictionary<string, string> LoadSourceFiles(string folder)
    {
        var separator = Path.DirectorySeparatorChar;
        return Directory.EnumerateFiles(PathOf(folder), "*.cs", SearchOption.AllDirectories)
            .Where(path => !path.Contains($"{separator}bin{separator}", StringComparison.Ordinal)
                && !path.Contains($"{separator}obj{separator}", StringComparison.Ordinal)
                && !path.Contains($"{separator}Migrations{separator}", StringComparison.Ordinal))
            .ToDictionary(Relative, File.ReadAllText, StringComparer.Ordinal);
    }

    private static string FindRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "ControlPlane.sln")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException($"No ControlPlane.sln above {AppContext.BaseDirectory}: run the tests from within the repository.");
    }
}
