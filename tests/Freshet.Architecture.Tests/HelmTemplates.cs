using System.Text;
using System.Text.RegularExpressions;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Freshet.Architecture.Tests;

/// <summary>
/// Reads Helm templates without Helm: the Go-template actions are taken out so that what remains parses as YAML.
/// The values a template would compute are unknown here, so checks read only what the chart writes literally.
/// </summary>
internal static class HelmTemplates
{
    public const string Placeholder = "helm-template-value";

    public static string ChartDirectory => Repository.PathOf("helm", "freshet");

    public static string TemplatesDirectory => Path.Combine(ChartDirectory, "templates");

    private static readonly Regex Comment = new(@"\{\{-?\s*/\*.*?\*/\s*-?\}\}", RegexOptions.Singleline);
    private static readonly Regex Action = new(@"\{\{-?\s*(.*?)\s*-?\}\}", RegexOptions.Singleline);
    private static readonly Regex WholeLineAction = new(@"^\s*\{\{[^{}]*\}\}\s*$");
    private static readonly Regex Include = new(@"\binclude\s+""([^""]+)""");

    /// <summary>The manifest templates (<c>templates/*.yaml</c>), by file name.</summary>
    public static IReadOnlyList<string> ManifestFiles() =>
        [.. Directory.EnumerateFiles(TemplatesDirectory, "*.yaml").Select(Path.GetFileName).OfType<string>().Order(StringComparer.Ordinal)];

    /// <summary>Every file under <c>templates/</c>: manifests, <c>_helpers.tpl</c>, <c>NOTES.txt</c>.</summary>
    public static IReadOnlyDictionary<string, string> AllFiles() =>
        Directory.EnumerateFiles(TemplatesDirectory)
            .ToDictionary(path => Path.GetFileName(path), File.ReadAllText, StringComparer.Ordinal);

    /// <summary>
    /// Comments go; a line holding nothing but one action goes too (control flow such as if/range/with/end, or an
    /// <c>include … | nindent N</c> whose block cannot be known here); every other action becomes a placeholder scalar.
    /// </summary>
    public static string ToPlainYaml(string template)
    {
        var text = Comment.Replace(template, "");
        var output = new StringBuilder();
        foreach (var line in text.Split('\n'))
        {
            if (WholeLineAction.IsMatch(line))
            {
                continue;
            }

            output.Append(Action.Replace(line, Placeholder)).Append('\n');
        }

        return output.ToString();
    }

    /// <summary>The YAML documents of one manifest template, as mappings; a parse error names the file and line.</summary>
    public static IReadOnlyList<YamlMappingNode> Documents(string fileName)
    {
        var plain = ToPlainYaml(File.ReadAllText(Path.Combine(TemplatesDirectory, fileName)));
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(plain));
        }
        catch (YamlException e)
        {
            var numbered = string.Join('\n', plain.Split('\n').Select((line, index) => $"{index + 1,4}: {line}"));
            Assert.Fail($"helm/freshet/templates/{fileName} is not valid YAML once its template actions are taken out "
                + $"(line {e.Start.Line}, column {e.Start.Column} of the text below): {e.Message}\n{numbered}");
        }

        var documents = new List<YamlMappingNode>();
        foreach (var document in stream.Documents)
        {
            if (document.RootNode is YamlMappingNode mapping)
            {
                documents.Add(mapping);
            }
            else if (document.RootNode is not YamlScalarNode { Value: null or "" })
            {
                Assert.Fail($"helm/freshet/templates/{fileName}: a document is a {document.RootNode.NodeType}, not a Kubernetes object (a mapping).");
            }
        }

        return documents;
    }

    /// <summary>Every manifest document of the chart, with the file it comes from.</summary>
    public static IReadOnlyList<(string File, YamlMappingNode Document)> AllDocuments() =>
        [.. ManifestFiles().SelectMany(file => Documents(file).Select(document => (file, document)))];

    public static IEnumerable<YamlMappingNode> OfKind(string kind) =>
        AllDocuments().Where(d => Scalar(d.Document, "kind") == kind).Select(d => d.Document);

    /// <summary>The named templates (<c>define "name"</c> … matching <c>end</c>) of every file under templates/.</summary>
    public static IReadOnlyDictionary<string, string> Defines()
    {
        var defines = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var text in AllFiles().Values)
        {
            string? name = null;
            var start = 0;
            var depth = 0;
            foreach (Match action in Action.Matches(text))
            {
                var body = action.Groups[1].Value;
                var keyword = body.Split([' ', '\t', '\n', '('], 2)[0];
                if (keyword is "define" && depth == 0)
                {
                    name = Regex.Match(body, @"define\s+""([^""]+)""").Groups[1].Value;
                    start = action.Index + action.Length;
                    depth = 1;
                }
                else if (keyword is "if" or "range" or "with" or "define" or "block")
                {
                    depth++;
                }
                else if (keyword is "end" && depth > 0 && --depth == 0 && name is not null)
                {
                    defines[name] = text[start..action.Index];
                    name = null;
                }
            }
        }

        return defines;
    }

    /// <summary>Whether <paramref name="text"/> contains <paramref name="needle"/> itself or through the templates it includes.</summary>
    public static bool Mentions(string text, string needle, IReadOnlyDictionary<string, string> defines, int depth = 0) =>
        text.Contains(needle, StringComparison.Ordinal)
        || (depth < 10 && Include.Matches(text).Any(include =>
            defines.TryGetValue(include.Groups[1].Value, out var body) && Mentions(body, needle, defines, depth + 1)));

    public static string? Scalar(YamlNode? node, params string[] path)
    {
        foreach (var key in path)
        {
            node = Child(node, key);
        }

        return (node as YamlScalarNode)?.Value;
    }

    public static YamlNode? Child(YamlNode? node, string key) =>
        node is YamlMappingNode mapping && mapping.Children.TryGetValue(new YamlScalarNode(key), out var child) ? child : null;

    /// <summary>Every value under the key <paramref name="key"/>, anywhere in the document.</summary>
    public static IEnumerable<YamlNode> FindAll(YamlNode node, string key)
    {
        if (node is YamlMappingNode mapping)
        {
            foreach (var (childKey, value) in mapping.Children)
            {
                if (childKey is YamlScalarNode { Value: var name } && name == key)
                {
                    yield return value;
                }

                foreach (var found in FindAll(value, key))
                {
                    yield return found;
                }
            }
        }
        else if (node is YamlSequenceNode sequence)
        {
            foreach (var found in sequence.Children.SelectMany(item => FindAll(item, key)))
            {
                yield return found;
            }
        }
    }
}
