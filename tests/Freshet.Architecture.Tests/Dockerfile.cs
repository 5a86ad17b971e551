using System.Text.RegularExpressions;

namespace Freshet.Architecture.Tests;

/// <summary>The instructions of the repository's Dockerfile that the chart depends on; enough of the syntax for that.</summary>
internal sealed class Dockerfile
{
    private static readonly Regex Variable = new(@"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?");

    private Dockerfile(IReadOnlyList<(string Keyword, string Arguments, int Stage)> instructions)
    {
        Instructions = instructions;
    }

    /// <summary>Each instruction with its stage: -1 before the first FROM (global ARGs), then 0, 1, ….</summary>
    public IReadOnlyList<(string Keyword, string Arguments, int Stage)> Instructions { get; }

    public int FinalStage => Instructions.Max(i => i.Stage);

    public static Dockerfile Load()
    {
        var text = Repository.Read("Dockerfile");
        var instructions = new List<(string, string, int)>();
        var stage = -1;
        var pending = "";
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.TrimEnd('\r');
            if (line.TrimStart().StartsWith('#'))
            {
                continue;
            }

            if (line.EndsWith('\\'))
            {
                pending += line[..^1] + " ";
                continue;
            }

            var whole = (pending + line).Trim();
            pending = "";
            if (whole.Length == 0)
            {
                continue;
            }

            var parts = whole.Split([' ', '\t'], 2, StringSplitOptions.RemoveEmptyEntries);
            var keyword = parts[0].ToUpperInvariant();
            if (keyword == "FROM")
            {
                stage++;
            }

            instructions.Add((keyword, parts.Length > 1 ? parts[1].Trim() : "", stage));
        }

        return new Dockerfile(instructions);
    }

    /// <summary>Defaults of the ARGs declared before the first FROM.</summary>
    public IReadOnlyDictionary<string, string?> GlobalArgs =>
        Instructions.Where(i => i.Keyword == "ARG" && i.Stage == -1)
            .Select(i => i.Arguments.Split('=', 2))
            .ToDictionary(p => p[0].Trim(), p => p.Length > 1 ? p[1].Trim().Trim('"') : null, StringComparer.Ordinal);

    /// <summary>Each stage's base image (global ARGs substituted) and its alias.</summary>
    public IReadOnlyList<(string Image, string? Alias)> Stages()
    {
        var args = GlobalArgs;
        return [.. Instructions.Where(i => i.Keyword == "FROM").Select(i =>
        {
            var tokens = i.Arguments.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries).Where(t => !t.StartsWith("--", StringComparison.Ordinal)).ToArray();
            var image = Variable.Replace(tokens[0], m => args.TryGetValue(m.Groups[1].Value, out var value) && value is not null ? value : m.Value);
            var alias = tokens.Length >= 3 && tokens[1].Equals("AS", StringComparison.OrdinalIgnoreCase) ? tokens[2] : null;
            return (image, alias);
        })];
    }

    /// <summary>Ports of the EXPOSE instructions of the final (runtime) stage.</summary>
    public IReadOnlyList<int> ExposedPorts() =>
        [.. Instructions.Where(i => i.Keyword == "EXPOSE" && i.Stage == FinalStage)
            .SelectMany(i => i.Arguments.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries))
            .Select(port => int.Parse(port.Split('/')[0], System.Globalization.CultureInfo.InvariantCulture))];

    /// <summary>Environment set by ENV instructions of the final (runtime) stage, in both <c>K=V …</c> and <c>K V</c> forms.</summary>
    public IReadOnlyDictionary<string, string> FinalEnvironment()
    {
        var environment = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (_, arguments, _) in Instructions.Where(i => i.Keyword == "ENV" && i.Stage == FinalStage))
        {
            var tokens = arguments.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
            if (!tokens[0].Contains('=', StringComparison.Ordinal))
            {
                environment[tokens[0]] = string.Join(' ', tokens.Skip(1)).Trim('"');
                continue;
            }

            foreach (var pair in tokens.Select(t => t.Split('=', 2)))
            {
                environment[pair[0]] = pair.Length > 1 ? pair[1].Trim('"') : "";
            }
        }

        return environment;
    }
}
