using System.Globalization;
using System.Text.RegularExpressions;
using YamlDotNet.RepresentationModel;

namespace Freshet.Architecture.Tests;

/// <summary>
/// No helm and no docker here: the chart (helm/freshet) and the Dockerfile are parsed and checked against each other and
/// against the code, so a renamed endpoint, verb, port, project or setting cannot leave the deployment behind.
/// </summary>
public sealed class HelmChartTests
{
    private const string ImageRepositoryValue = ".Values.image.repository";
    private const string WorkerImageRepositoryValue = ".Values.worker.image.repository";
    private const string WorkerHost = "Freshet.DataPlane.Worker";
    private const string WorkerTemplate = "worker-deployment.yaml";
    private const string ConsoleImageRepositoryValue = ".Values.console.image.repository";
    private const string ConsoleHost = "Freshet.Console";
    private const string ConsoleTemplate = "console-deployment.yaml";

    public static TheoryData<string> ManifestTemplates => [.. HelmTemplates.ManifestFiles()];

    [Fact]
    public void Chart_IsAHelm3ChartWithNameAndVersion()
    {
        var chart = LoadMapping(Path.Combine(HelmTemplates.ChartDirectory, "Chart.yaml"));

        Assert.True(HelmTemplates.Scalar(chart, "apiVersion") == "v2",
            $"helm/freshet/Chart.yaml: apiVersion is '{HelmTemplates.Scalar(chart, "apiVersion")}'; Helm 3 charts declare apiVersion: v2.");
        Assert.False(string.IsNullOrWhiteSpace(HelmTemplates.Scalar(chart, "name")), "helm/freshet/Chart.yaml has no name.");
        var version = HelmTemplates.Scalar(chart, "version");
        Assert.True(version is not null && Regex.IsMatch(version, @"^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$"),
            $"helm/freshet/Chart.yaml: version '{version}' is not a SemVer 2 version, which Helm requires (e.g. 0.1.0).");
    }

    [Fact]
    public void Values_ParseAndNameTheImageRepository()
    {
        var values = LoadMapping(Path.Combine(HelmTemplates.ChartDirectory, "values.yaml"));

        Assert.False(string.IsNullOrWhiteSpace(HelmTemplates.Scalar(values, "image", "repository")),
            "helm/freshet/values.yaml: image.repository is empty; it must name the image built from the repository's Dockerfile (see helm/README.md).");
    }

    [Theory]
    [MemberData(nameof(ManifestTemplates))]
    public void Template_ParsesAsKubernetesObjects(string file)
    {
        var documents = HelmTemplates.Documents(file);

        Assert.True(documents.Count > 0, $"helm/freshet/templates/{file} renders no object.");
        var failures = documents
            .Select((document, index) => (Index: index + 1, Missing: new[] { "apiVersion", "kind", "metadata" }.Where(key => HelmTemplates.Child(document, key) is null).ToList()))
            .Where(d => d.Missing.Count > 0)
            .Select(d => $"document {d.Index} has no {string.Join(", ", d.Missing)}")
            .ToList();
        Assert.True(failures.Count == 0,
            $"helm/freshet/templates/{file}: {string.Join("; ", failures)}. Every Kubernetes object needs apiVersion, kind and metadata.");
    }

    [Fact]
    public void Templates_Images_AreTheValuesImageRepository()
    {
        var defines = HelmTemplates.Defines();
        var images = HelmTemplates.ManifestFiles()
            .SelectMany(file => Regex.Matches(File.ReadAllText(Path.Combine(HelmTemplates.TemplatesDirectory, file)), @"^\s*-?\s*image:\s*(.+?)\s*$", RegexOptions.Multiline)
                .Select(match => (File: file, Value: match.Groups[1].Value)))
            .ToList();

        Assert.NotEmpty(images);
        var offending = images.Where(image => !HelmTemplates.Mentions(image.Value, ImageRepositoryValue, defines)
            && !HelmTemplates.Mentions(image.Value, WorkerImageRepositoryValue, defines)
            && !HelmTemplates.Mentions(image.Value, ConsoleImageRepositoryValue, defines)).ToList();
        Assert.True(offending.Count == 0,
            $"Every container image must come from {ImageRepositoryValue}, {WorkerImageRepositoryValue} or {ConsoleImageRepositoryValue} (the images the Dockerfile builds), directly "
            + $"or through an included template such as \"freshet.image\"; these do not: {string.Join("; ", offending.Select(i => $"templates/{i.File}: image: {i.Value}"))}.");
        var worker = images.Where(image => image.File == WorkerTemplate).ToList();
        Assert.True(worker.Count > 0 && worker.All(image => HelmTemplates.Mentions(image.Value, WorkerImageRepositoryValue, defines)),
            $"helm/freshet/templates/{WorkerTemplate} must run the worker image ({WorkerImageRepositoryValue}); it has: {string.Join("; ", worker.Select(i => i.Value))}.");
        var console = images.Where(image => image.File == ConsoleTemplate).ToList();
        Assert.True(console.Count > 0 && console.All(image => HelmTemplates.Mentions(image.Value, ConsoleImageRepositoryValue, defines)),
            $"helm/freshet/templates/{ConsoleTemplate} must run the console image ({ConsoleImageRepositoryValue}); it has: {string.Join("; ", console.Select(i => i.Value))}.");
    }

    [Fact]
    public void Values_ImageRepositories_AreTheImagesTheDockerfileBuildsForEachHost()
    {
        // The Dockerfile's header documents one `docker build … -t REPOSITORY:tag .` per host; the chart's two
        // repositories must be those of the control plane (the default HOST) and of the worker.
        var builds = DockerfileBuilds();
        var values = LoadMapping(Path.Combine(HelmTemplates.ChartDirectory, "values.yaml"));
        var expected = new[]
        {
            (Path: "image.repository", Value: HelmTemplates.Scalar(values, "image", "repository"), Host: HostProject()),
            (Path: "worker.image.repository", Value: HelmTemplates.Scalar(values, "worker", "image", "repository"), Host: WorkerHost),
            (Path: "console.image.repository", Value: HelmTemplates.Scalar(values, "console", "image", "repository"), Host: ConsoleHost),
        };

        var failures = expected
            .Where(e => e.Value is null || !builds.TryGetValue(e.Value, out var host) || host != e.Host)
            .Select(e => $"{e.Path} is '{e.Value}', which the Dockerfile builds "
                + (e.Value is not null && builds.TryGetValue(e.Value, out var host) ? $"for HOST={host}" : "for no host")
                + $"; it must be the image of HOST={e.Host}")
            .ToList();
        Assert.True(failures.Count == 0,
            $"helm/freshet/values.yaml: {string.Join("; ", failures)} (the Dockerfile builds: {string.Join(", ", builds.Select(b => $"{b.Key} = HOST {b.Value}"))}).");
    }

    [Fact]
    public void Dockerfile_BaseImages_AreDotnetImagesOfTheTargetFramework()
    {
        var framework = Regex.Match(Repository.Read("Directory.Build.props"), @"<TargetFramework>net(\d+\.\d+)</TargetFramework>");
        Assert.True(framework.Success, "Directory.Build.props sets no <TargetFramework>netX.Y</TargetFramework>.");
        var version = framework.Groups[1].Value;

        var stages = Dockerfile.Load().Stages();
        Assert.NotEmpty(stages);
        var aliases = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        var offending = new List<string>();
        foreach (var (image, alias) in stages)
        {
            if (!aliases.Contains(image)
                && !Regex.IsMatch(image, $@"^mcr\.microsoft\.com/dotnet/[a-z0-9./-]+:{Regex.Escape(version)}($|[.-])"))
            {
                offending.Add(image);
            }

            if (alias is not null)
            {
                aliases.Add(alias);
            }
        }

        Assert.True(offending.Count == 0,
            $"Dockerfile: every FROM must be an mcr.microsoft.com/dotnet/… image tagged {version}, the version the projects target (net{version} in "
            + $"Directory.Build.props); these are not: {string.Join(", ", offending)}.");
    }

    [Fact]
    public void Deployment_ContainerPort_IsTheImagesHttpPort()
    {
        var dockerfile = Dockerfile.Load();
        var exposed = dockerfile.ExposedPorts();
        var environment = dockerfile.FinalEnvironment();
        Assert.True(environment.TryGetValue("ASPNETCORE_HTTP_PORTS", out var httpPortsValue),
            "Dockerfile: the runtime stage sets no ENV ASPNETCORE_HTTP_PORTS, so the port Kestrel listens on is not pinned by the image.");
        var httpPorts = httpPortsValue.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(p => int.Parse(p, CultureInfo.InvariantCulture)).ToList();

        var ports = ContainerPorts();
        Assert.NotEmpty(ports);
        var offending = ports.Where(p => !exposed.Contains(p.Port) || !httpPorts.Contains(p.Port)).Select(p => $"container '{p.Container}' port '{p.Name}' = {p.Port}").ToList();
        Assert.True(offending.Count == 0,
            $"helm/freshet/templates: {string.Join("; ", offending)}, but the Dockerfile's runtime stage has EXPOSE {string.Join(" ", exposed)} "
            + $"and ASPNETCORE_HTTP_PORTS={httpPortsValue}. The three must agree: change containerPort or the Dockerfile.");
    }

    [Fact]
    public void Service_TargetPort_IsTheContainerPort()
    {
        var ports = ContainerPorts();
        var targets = HelmTemplates.OfKind("Service")
            .SelectMany(service => HelmTemplates.Child(HelmTemplates.Child(service, "spec"), "ports") is YamlSequenceNode sequence ? sequence.Children : [])
            .Select(port => HelmTemplates.Scalar(port, "targetPort"))
            .ToList();

        Assert.NotEmpty(targets);
        var offending = targets.Where(target => !ResolvesToContainerPort(target, ports)).ToList();
        Assert.True(offending.Count == 0,
            $"helm/freshet/templates: Service targetPort {string.Join(", ", offending.Select(t => $"'{t}'"))} is neither the name nor the number of a Deployment "
            + $"container port ({DescribePorts(ports)}); the Service would send traffic nowhere.");
    }

    [Fact]
    public void Probes_Paths_AreHealthEndpointsTheHostMaps()
    {
        const string Source = "src/Freshet.ServiceDefaults/ServiceDefaultsExtensions.cs";
        var mapped = Regex.Matches(Repository.Read(Source), @"MapHealthChecks\(\s*""([^""]+)""").Select(m => m.Groups[1].Value).ToList();
        Assert.NotEmpty(mapped);
        var ports = ContainerPorts();

        var probes = HelmTemplates.AllDocuments()
            .SelectMany(d => HelmTemplates.FindAll(d.Document, "httpGet").Select(probe => (d.File, Probe: probe)))
            .ToList();
        Assert.NotEmpty(probes);
        var failures = new List<string>();
        foreach (var (file, probe) in probes)
        {
            var path = HelmTemplates.Scalar(probe, "path");
            var port = HelmTemplates.Scalar(probe, "port");
            if (path is null || !mapped.Contains(path))
            {
                failures.Add($"templates/{file}: a probe calls GET {path}, but the host maps health checks only at {string.Join(", ", mapped)} ({Source}); "
                    + "point the probe at one of those, or map the path");
            }

            if (!ResolvesToContainerPort(port, ports))
            {
                failures.Add($"templates/{file}: the probe on {path} uses port '{port}', which is not a container port ({DescribePorts(ports)})");
            }
        }

        Assert.True(failures.Count == 0, $"helm/freshet: {string.Join(". ", failures)}.");
    }

    [Fact]
    public void Templates_Args_AreVerbsTheHostHandles()
    {
        var args = HelmTemplates.AllDocuments()
            .SelectMany(d => HelmTemplates.FindAll(d.Document, "args").Select(a => (d.File, Args: a)))
            .ToList();
        Assert.NotEmpty(args);
        Assert.Contains(args, a => a.File == WorkerTemplate);

        // The host dispatches on the first argument; later ones are that verb's options. Which host runs a template's
        // containers follows from its image: the worker's repository, or the control plane's.
        var defines = HelmTemplates.Defines();
        var offending = new List<string>();
        foreach (var (file, node) in args)
        {
            var text = File.ReadAllText(Path.Combine(HelmTemplates.TemplatesDirectory, file));
            var host = HelmTemplates.Mentions(text, WorkerImageRepositoryValue, defines) ? WorkerHost : HostProject();
            var (sources, verbs) = Verbs(host);
            var verb = ((node as YamlSequenceNode)?.Children.FirstOrDefault() as YamlScalarNode)?.Value;
            if (verb is null || !verbs.Contains(verb))
            {
                offending.Add($"templates/{file} runs the {host} image with args '{verb}', which {string.Join(" and ", sources)} do not handle "
                    + $"(its verbs: {string.Join(", ", verbs)})");
            }
        }

        Assert.True(offending.Count == 0,
            $"helm/freshet: {string.Join("; ", offending)}. The container would start something else than intended, or stop with its usage.");
    }

    [Fact]
    public void WorkerDeployment_RunsTheControlPlaneDrivenWorker()
    {
        var deployment = HelmTemplates.Documents(WorkerTemplate).Single(d => HelmTemplates.Scalar(d, "kind") == "Deployment");
        var container = Containers(deployment).Single();
        var args = (HelmTemplates.Child(container, "args") as YamlSequenceNode)?.Children.OfType<YamlScalarNode>().Select(n => n.Value).ToList() ?? [];
        Assert.True(args is ["run"],
            $"helm/freshet/templates/{WorkerTemplate}: the worker must run with args [\"run\"] (no --spec: it takes its pipelines from the control plane); it has [{string.Join(", ", args)}].");

        // The worker serves no HTTP (see the Dockerfile): a port or an HTTP probe would never answer.
        Assert.True(HelmTemplates.Child(container, "ports") is null && !HelmTemplates.FindAll(container, "httpGet").Any(),
            $"helm/freshet/templates/{WorkerTemplate}: the worker serves no HTTP, so its container must declare no port and no HTTP probe.");

        var variables = TemplateVariables(WorkerTemplate, "Freshet");
        var required = new[]
        {
            "Freshet__Worker__ControlPlane__Url", "Freshet__Worker__ControlPlane__ClientId", "Freshet__Worker__ControlPlane__ClientSecret",
            "Freshet__Worker__Name", "Freshet__Worker__DrainTimeout",
        };
        var missing = required.Except(variables).ToList();
        Assert.True(missing.Count == 0,
            $"helm/freshet/templates/{WorkerTemplate} does not set {string.Join(", ", missing)}; a worker without them cannot reach the control plane "
            + "(WorkerAgentOptions.Validate), would register under a machine name people cannot match to a pod, or drain for an unknown time.");

        // Workers reach the control database only through the control plane's API.
        var forbidden = TemplateVariables(WorkerTemplate, "ConnectionStrings").Concat(variables.Where(v => v.StartsWith("Freshet__Secrets__", StringComparison.Ordinal))).ToList();
        Assert.True(forbidden.Count == 0,
            $"helm/freshet/templates/{WorkerTemplate} gives the workers {string.Join(", ", forbidden)}; workers get their pipelines (secrets included) from "
            + "the control plane and must hold no database credentials nor the master key.");

        var name = HelmTemplates.FindAll(container, "fieldRef").Select(f => HelmTemplates.Scalar(f, "fieldPath")).ToList();
        Assert.True(name.Contains("metadata.name"),
            $"helm/freshet/templates/{WorkerTemplate}: Freshet__Worker__Name should come from the pod's name (fieldRef metadata.name), so that GET /v1/workers names pods.");
    }

    [Fact]
    public void WorkerDeployment_FreshetVariables_AreSettingsTheWorkerBinds()
    {
        // Checked against the worker's own code (its project and the projects it references), not the whole of src/:
        // a setting only the control plane reads would be ignored by the worker.
        var sources = ProjectSources(WorkerHost);
        var variables = TemplateVariables(WorkerTemplate, "Freshet");
        Assert.NotEmpty(variables);

        var failures = variables.Select(variable => UnboundSetting(variable, sources)).OfType<string>().ToList();
        Assert.True(failures.Count == 0,
            $"helm/freshet/templates/{WorkerTemplate}: {string.Join("; ", failures)} (in {WorkerHost} and the projects it references). "
            + "The worker would ignore the setting: fix its name (or the code's).");
    }

    [Fact]
    public void ControlPlaneAndWorkers_ShareTheWorkerClientAndTheMessagingSettings()
    {
        var controlPlane = TemplateVariables("controlplane-deployment.yaml", "Freshet");
        var migration = TemplateVariables("migration-job.yaml", "Freshet");
        var worker = TemplateVariables(WorkerTemplate, "Freshet");

        const string ClientSecret = "Freshet__Auth__WorkerClient__ClientSecret";
        Assert.True(controlPlane.Contains(ClientSecret) && migration.Contains(ClientSecret),
            $"helm/freshet: {ClientSecret} must reach the control plane (which checks the workers' tokens) and the migration Job (migrate creates the "
            + $"worker pool's client only when it is set); control plane: {controlPlane.Contains(ClientSecret)}, migration: {migration.Contains(ClientSecret)}.");

        var cpMessaging = controlPlane.Where(v => v.StartsWith("Freshet__Messaging__", StringComparison.Ordinal)).ToList();
        var workerMessaging = worker.Where(v => v.StartsWith("Freshet__Messaging__", StringComparison.Ordinal)).ToList();
        Assert.True(cpMessaging.Count > 0 && cpMessaging.SequenceEqual(workerMessaging),
            $"helm/freshet: the control plane ({string.Join(", ", cpMessaging)}) and the workers ({string.Join(", ", workerMessaging)}) must get the same "
            + "Freshet__Messaging__* settings, or the scheduler's assignment hints never reach the workers.");

        var fromValues = new[] { WorkerTemplate, "controlplane-deployment.yaml" }.Where(f => !TemplateText(f).Contains(".Values.workerClient", StringComparison.Ordinal)).ToList();
        Assert.True(fromValues.Count == 0,
            $"helm/freshet/templates: {string.Join(", ", fromValues)} must take the worker pool's client (id and secret) from workerClient.*, so that both sides use the same Secret.");
    }

    [Fact]
    public void WorkerDeployment_GracePeriod_CoversTheDrainAndTheHostsStopMargin()
    {
        // The worker drains on SIGTERM for up to DrainTimeout, and its host gives the services DrainTimeout + a margin to
        // stop (WorkerAgentOptions.ShutdownTimeout); Kubernetes kills the pod at terminationGracePeriodSeconds.
        const string Source = "src/Freshet.DataPlane/Runtime/WorkerAgentOptions.cs";
        var margin = Regex.Match(Repository.Read(Source), @"ShutdownTimeout\s*=>\s*DrainTimeout\s*\+\s*TimeSpan\.FromSeconds\((\d+)\)");
        Assert.True(margin.Success, $"{Source}: no `ShutdownTimeout => DrainTimeout + TimeSpan.FromSeconds(N)`; this test reads the host's stop margin from it.");
        var marginSeconds = int.Parse(margin.Groups[1].Value, CultureInfo.InvariantCulture);

        var template = File.ReadAllText(Path.Combine(HelmTemplates.TemplatesDirectory, WorkerTemplate));
        Assert.Matches(@"terminationGracePeriodSeconds:\s*\{\{\s*\.Values\.worker\.terminationGracePeriodSeconds\s*\}\}", template);
        var drainLine = Regex.Match(template, @"name:\s*Freshet__Worker__DrainTimeout\s*\n\s*value:\s*(.+)");
        Assert.True(drainLine.Success && HelmTemplates.Mentions(drainLine.Groups[1].Value, ".Values.worker.drainTimeoutSeconds", HelmTemplates.Defines()),
            $"helm/freshet/templates/{WorkerTemplate}: Freshet__Worker__DrainTimeout must come from worker.drainTimeoutSeconds (this test compares it with the grace period).");

        var values = LoadMapping(Path.Combine(HelmTemplates.ChartDirectory, "values.yaml"));
        var grace = int.Parse(HelmTemplates.Scalar(values, "worker", "terminationGracePeriodSeconds") ?? "0", CultureInfo.InvariantCulture);
        var drain = int.Parse(HelmTemplates.Scalar(values, "worker", "drainTimeoutSeconds") ?? "0", CultureInfo.InvariantCulture);
        Assert.True(drain > 0 && grace > drain + marginSeconds,
            $"helm/freshet/values.yaml: worker.terminationGracePeriodSeconds ({grace}) must exceed worker.drainTimeoutSeconds ({drain}) + {marginSeconds} s "
            + $"(the host's stop margin, {Source}); Kubernetes would kill a draining worker before it has handed its pipelines back.");

        // The chart's own check (a failed render) uses the same margin.
        var check = Regex.Match(HelmTemplates.Defines().GetValueOrDefault("freshet.worker.drainTimeout") ?? "", @"add\s+\$drain\s+(\d+)");
        Assert.True(check.Success && check.Groups[1].Value == margin.Groups[1].Value,
            $"helm/freshet/templates/_helpers.tpl: \"freshet.worker.drainTimeout\" must fail the render when the grace period is not above the drain + {marginSeconds} s.");
    }

    [Fact]
    public void ControlPlane_ScrapeToken_ComesFromAnExistingSecret_NeverFromValues()
    {
        const string Variable = "Freshet__Metrics__ScrapeToken";
        var controlPlane = TemplateText("controlplane-deployment.yaml");
        Assert.True(Regex.IsMatch(controlPlane, $@"name:\s*{Variable}\s*\n\s*valueFrom:\s*\n\s*secretKeyRef:"),
            $"helm/freshet/templates/controlplane-deployment.yaml must set {Variable} from a secretKeyRef (metrics.scrapeToken.existingSecret), "
            + "or /metrics answers 404 to every scrape.");
        Assert.True(HelmTemplates.Mentions(controlPlane, ".Values.metrics.scrapeToken", HelmTemplates.Defines()),
            $"helm/freshet/templates/controlplane-deployment.yaml: {Variable} must come from metrics.scrapeToken.*.");

        var literal = HelmTemplates.AllFiles().Where(f => Regex.IsMatch(f.Value, $@"{Variable}\s*\n\s*value:")).Select(f => f.Key).ToList();
        Assert.True(literal.Count == 0, $"helm/freshet/templates/{string.Join(", ", literal)} set {Variable} as a plain value; the token is a secret.");

        // Only the control plane serves /metrics: the migration Job and the workers have no use for the token.
        var elsewhere = new[] { "migration-job.yaml", WorkerTemplate }.Where(f => TemplateVariables(f, "Freshet").Contains(Variable)).ToList();
        Assert.True(elsewhere.Count == 0, $"helm/freshet/templates/{string.Join(", ", elsewhere)} get {Variable}, which only the control plane needs.");

        var values = LoadMapping(Path.Combine(HelmTemplates.ChartDirectory, "values.yaml"));
        var keys = (HelmTemplates.Child(HelmTemplates.Child(values, "metrics"), "scrapeToken") as YamlMappingNode)?.Children.Keys
            .OfType<YamlScalarNode>().Select(k => k.Value).ToList() ?? [];
        Assert.True(keys.Order().SequenceEqual(["existingSecret", "key"]),
            $"helm/freshet/values.yaml: metrics.scrapeToken must hold only existingSecret and key (the token lives in a Secret, never in values); it has {string.Join(", ", keys)}.");
    }

    [Fact]
    public void Scrapes_AskForThePathTheHostServes_OnTheControlPlanesPort_WithTheToken()
    {
        const string Source = "src/Freshet.ControlPlane.Host/PrometheusEndpoint.cs";
        var path = Regex.Match(Repository.Read(Source), @"const\s+string\s+Path\s*=\s*""([^""]+)""");
        Assert.True(path.Success, $"{Source}: no `const string Path = \"…\"`; this test reads the scrape path from it.");
        var ports = ContainerPorts();
        var servicePorts = HelmTemplates.OfKind("Service")
            .SelectMany(service => HelmTemplates.Child(HelmTemplates.Child(service, "spec"), "ports") is YamlSequenceNode sequence ? sequence.Children : [])
            .Select(port => HelmTemplates.Scalar(port, "name"))
            .ToList();

        var failures = new List<string>();
        var monitors = HelmTemplates.AllDocuments().Where(d => HelmTemplates.Scalar(d.Document, "kind") == "ServiceMonitor").ToList();
        Assert.NotEmpty(monitors);
        foreach (var (file, monitor) in monitors)
        {
            var endpoints = (HelmTemplates.Child(HelmTemplates.Child(monitor, "spec"), "endpoints") as YamlSequenceNode)?.Children ?? [];
            if (endpoints.Count == 0)
            {
                failures.Add($"templates/{file}: the ServiceMonitor has no endpoints");
            }

            foreach (var endpoint in endpoints)
            {
                if (HelmTemplates.Scalar(endpoint, "path") != path.Groups[1].Value)
                {
                    failures.Add($"templates/{file}: the ServiceMonitor scrapes {HelmTemplates.Scalar(endpoint, "path")}, but the host serves {path.Groups[1].Value}");
                }

                if (!servicePorts.Contains(HelmTemplates.Scalar(endpoint, "port")))
                {
                    failures.Add($"templates/{file}: the ServiceMonitor's port '{HelmTemplates.Scalar(endpoint, "port")}' is not a Service port name ({string.Join(", ", servicePorts)})");
                }

                if (HelmTemplates.Scalar(endpoint, "authorization", "type") != "Bearer" || HelmTemplates.Child(HelmTemplates.Child(endpoint, "authorization"), "credentials") is null)
                {
                    failures.Add($"templates/{file}: the ServiceMonitor sends no bearer token (authorization.type Bearer with credentials), so every scrape gets 401");
                }
            }

            if (!HelmTemplates.Mentions(File.ReadAllText(Path.Combine(HelmTemplates.TemplatesDirectory, file)), ".Values.metrics.scrapeToken.existingSecret", HelmTemplates.Defines()))
            {
                failures.Add($"templates/{file}: the ServiceMonitor's token must come from metrics.scrapeToken.existingSecret, the Secret the pods read");
            }
        }

        var annotated = 0;
        foreach (var (file, document) in HelmTemplates.AllDocuments())
        {
            foreach (var annotations in HelmTemplates.FindAll(document, "annotations"))
            {
                if (HelmTemplates.Scalar(annotations, "prometheus.io/scrape") is null)
                {
                    continue;
                }

                annotated++;

                if (HelmTemplates.Scalar(annotations, "prometheus.io/path") != path.Groups[1].Value)
                {
                    failures.Add($"templates/{file}: prometheus.io/path is {HelmTemplates.Scalar(annotations, "prometheus.io/path")}, but the host serves {path.Groups[1].Value}");
                }

                if (!ResolvesToContainerPort(HelmTemplates.Scalar(annotations, "prometheus.io/port"), ports))
                {
                    failures.Add($"templates/{file}: prometheus.io/port {HelmTemplates.Scalar(annotations, "prometheus.io/port")} is not a container port ({DescribePorts(ports)})");
                }
            }
        }

        Assert.True(annotated > 0, "helm/freshet/templates: no pod template carries the prometheus.io/* scrape annotations (metrics.scrapeAnnotations).");
        Assert.True(failures.Count == 0, $"helm/freshet: {string.Join("; ", failures)}.");
    }

    [Fact]
    public void Console_IsRegisteredAtTheCallbackPathsItAnswers_AndToldWhereTheControlPlaneIs()
    {
        // The control plane registers <publicUrl>/… as the console client's redirect URIs; they must be the paths the
        // console's OpenID Connect handler answers (ASP.NET Core's defaults unless ConsoleAuthentication sets others).
        const string Source = "web/Freshet.Console/Auth/ConsoleAuthentication.cs";
        var authentication = Repository.Read(Source);
        string Answered(string property, string fallback) =>
            Regex.Match(authentication, $@"\b{property}\s*=\s*""([^""]+)""") is { Success: true } set ? set.Groups[1].Value : fallback;
        var helpers = HelmTemplates.Defines()["freshet.configData"];
        string? Registered(string setting) =>
            Regex.Match(helpers, $@"{setting}:.*printf\s+""%s(/[^""]*)""") is { Success: true } found ? found.Groups[1].Value : null;

        Assert.Equal(Answered("CallbackPath", "/signin-oidc"), Registered("Freshet__Auth__ConsoleClient__RedirectUris__0"));
        Assert.Equal(Answered("SignedOutCallbackPath", "/signout-callback-oidc"), Registered("Freshet__Auth__ConsoleClient__PostLogoutRedirectUris__0"));

        // The console Deployment tells the console where the control plane is and which client it is.
        var deployment = Assert.Single(HelmTemplates.Documents(ConsoleTemplate), d => HelmTemplates.Scalar(d, "kind") == "Deployment");
        var environment = Containers(deployment)
            .SelectMany(c => (HelmTemplates.Child(c, "env") as YamlSequenceNode)?.Children ?? [])
            .Select(e => HelmTemplates.Scalar(e, "name"))
            .ToList();
        Assert.Contains("Freshet__Console__ControlPlaneUrl", environment);
        Assert.Contains("Freshet__Console__ClientId", environment);

        // The image recipe builds hosts outside src/: it copies web/ and restores and publishes ${HOST_DIR}/${HOST}.
        var dockerfile = Dockerfile.Load();
        Assert.True(dockerfile.GlobalArgs.TryGetValue("HOST_DIR", out var folder) && folder == "src",
            "Dockerfile: a global ARG HOST_DIR=src must name the folder of the default host (the console is built with HOST_DIR=web).");
        var runs = dockerfile.Instructions.Where(i => i.Keyword == "RUN").Select(i => i.Arguments).ToList();
        Assert.Contains(runs, run => run.Contains("dotnet restore \"${HOST_DIR}/${HOST}/${HOST}.csproj\"", StringComparison.Ordinal));
        Assert.Contains(runs, run => run.Contains("dotnet publish \"${HOST_DIR}/${HOST}/${HOST}.csproj\"", StringComparison.Ordinal));
        Assert.Contains(dockerfile.Instructions, i => i.Keyword == "COPY" && i.Arguments == "web/ web/" && i.Stage == dockerfile.Instructions.First(r => r.Arguments.Contains("dotnet publish", StringComparison.Ordinal)).Stage);
    }

    [Fact]
    public void Dockerfile_HostArg_NamesAProjectUnderSrc()
    {
        var host = HostProject();
        var project = Repository.PathOf("src", host, host + ".csproj");

        Assert.True(File.Exists(project),
            $"Dockerfile: ARG HOST={host} must name src/<HOST>/<HOST>.csproj, but src/{host}/{host}.csproj does not exist; the image build would fail.");
    }

    [Fact]
    public void Dockerfile_Hosts_AreExecutableProjectsPublishedUnderTheirOwnName()
    {
        // The image runs /app/${HOST}.dll: every host it is documented to build (the default and each
        // `--build-arg HOST=…` of its header) must be an executable project whose assembly is named after its folder.
        var text = Repository.Read("Dockerfile");
        // A host outside src/ names its folder too (--build-arg HOST_DIR=web for the console).
        var hosts = Regex.Matches(text, @"--build-arg\s+HOST=([A-Za-z0-9_.-]+)(?:\s+--build-arg\s+HOST_DIR=([A-Za-z0-9_.-]+))?")
            .Select(m => (Host: m.Groups[1].Value, Folder: m.Groups[2].Success ? m.Groups[2].Value : "src"))
            .Prepend((Host: HostProject(), Folder: "src")).Distinct().ToList();
        Assert.True(text.Contains("/app/${FRESHET_HOST}.dll", StringComparison.Ordinal) && text.Contains("FRESHET_HOST=${HOST}", StringComparison.Ordinal),
            "Dockerfile: the runtime stage must set FRESHET_HOST=${HOST} and run /app/${FRESHET_HOST}.dll; the checks below assume it.");

        var failures = new List<string>();
        foreach (var (host, folder) in hosts)
        {
            var path = Repository.PathOf(folder, host, host + ".csproj");
            if (!File.Exists(path))
            {
                failures.Add($"HOST={host}: {folder}/{host}/{host}.csproj does not exist");
                continue;
            }

            var project = File.ReadAllText(path);
            if (!project.Contains("Sdk=\"Microsoft.NET.Sdk.Web\"", StringComparison.Ordinal) && !Regex.IsMatch(project, @"<OutputType>\s*Exe\s*</OutputType>"))
            {
                failures.Add($"HOST={host}: {folder}/{host}/{host}.csproj is a library (no <OutputType>Exe</OutputType>, not Microsoft.NET.Sdk.Web), so `dotnet {host}.dll` cannot run it");
            }

            var assemblyName = Regex.Match(project, @"<AssemblyName>\s*([^<]+?)\s*</AssemblyName>");
            if (assemblyName.Success && assemblyName.Groups[1].Value != host)
            {
                failures.Add($"HOST={host}: {folder}/{host}/{host}.csproj sets <AssemblyName>{assemblyName.Groups[1].Value}</AssemblyName>, so the publish has no /app/{host}.dll "
                    + "(remove the AssemblyName, or rename the project)");
            }
        }

        Assert.True(failures.Count == 0, $"Dockerfile: {string.Join("; ", failures)}.");
    }

    [Fact]
    public void Chart_Roles_AreRolesTheHostKnows()
    {
        const string Source = "src/Freshet.ControlPlane.Host/ControlPlaneRoles.cs";
        var known = Regex.Match(Repository.Read(Source), @"Known\s*=\s*\[([^\]]*)\]");
        Assert.True(known.Success, $"{Source} has no `Known = [\"api\", …]` list of roles; this test reads the roles the host accepts from it.");
        var hostRoles = Regex.Matches(known.Groups[1].Value, "\"([^\"]+)\"").Select(m => m.Groups[1].Value).ToList();

        var helpers = HelmTemplates.AllFiles()["_helpers.tpl"];
        var chartList = Regex.Match(helpers, @"\$known\s*:=\s*list((?:\s+""[^""]+"")+)");
        Assert.True(chartList.Success, "helm/freshet/templates/_helpers.tpl: the \"freshet.roles\" template has no `$known := list \"api\" …` of accepted roles.");
        var chartRoles = Regex.Matches(chartList.Groups[1].Value, "\"([^\"]+)\"").Select(m => m.Groups[1].Value).ToList();

        var values = LoadMapping(Path.Combine(HelmTemplates.ChartDirectory, "values.yaml"));
        var defaults = (HelmTemplates.Child(HelmTemplates.Child(values, "controlPlane"), "roles") as YamlSequenceNode)?.Children
            .OfType<YamlScalarNode>().Select(n => n.Value ?? "").ToList() ?? [];

        var unknownToHost = chartRoles.Except(hostRoles).ToList();
        Assert.True(unknownToHost.Count == 0,
            $"helm/freshet accepts the roles {string.Join(", ", unknownToHost)} in controlPlane.roles, which {Source} does not know "
            + $"(it knows {string.Join(", ", hostRoles)}); the pods would stop at start. Fix the list in _helpers.tpl (\"freshet.roles\").");
        Assert.True(defaults.Count > 0 && defaults.All(chartRoles.Contains),
            $"helm/freshet/values.yaml: controlPlane.roles ({string.Join(", ", defaults)}) must be a non-empty list of roles the chart accepts "
            + $"({string.Join(", ", chartRoles)}).");
    }

    [Fact]
    public void Templates_ConnectionStringVariables_AreConnectionsTheCodeReads()
    {
        var variables = EnvironmentVariables("ConnectionStrings");
        Assert.NotEmpty(variables);

        var failures = new List<string>();
        foreach (var variable in variables)
        {
            var segments = variable.Split("__");
            var name = Regex.Escape(segments[^1]);
            if (segments.Length != 2)
            {
                failures.Add($"{variable} is not of the form ConnectionStrings__<Name>");
            }
            else if (!Repository.SourceFiles.Values.Any(source => Regex.IsMatch(source, $@"ConnectionName\s*=\s*""{name}""|GetConnectionString\(\s*""{name}""\s*\)")))
            {
                failures.Add($"{variable} names the connection string \"{segments[1]}\", which no code in src/ reads "
                    + "(as a XxxConnectionName = \"…\" constant or GetConnectionString(\"…\"))");
            }
        }

        Assert.True(failures.Count == 0,
            $"helm/freshet/templates: {string.Join("; ", failures)}. The setting would be ignored: rename the variable to the name the code reads.");
    }

    [Fact]
    public void Templates_FreshetVariables_AreSettingsTheCodeBinds()
    {
        var variables = EnvironmentVariables("Freshet");
        Assert.NotEmpty(variables);

        // The console's settings (Freshet__Console__*) are bound under web/.
        var sources = Repository.SourceFiles.Concat(Repository.WebSourceFiles).ToDictionary(f => f.Key, f => f.Value, StringComparer.Ordinal);
        var failures = variables.Select(variable => UnboundSetting(variable, sources)).OfType<string>().ToList();

        Assert.True(failures.Count == 0,
            $"helm/freshet/templates: {string.Join("; ", failures)}. The setting would be ignored: fix its name (or the code's).");
    }

    /// <summary>
    /// Why <paramref name="variable"/> (Freshet__Section__Property…) is not a setting <paramref name="sources"/> bind, or null when it is.
    /// The section's options are the files naming it (<c>"Freshet:Worker"</c>) and those whose <c>Section = Other.Section</c> points
    /// at a class of such a file; each later segment must be a public property there (numeric segments index a list).
    /// </summary>
    private static string? UnboundSetting(string variable, IReadOnlyDictionary<string, string> sources)
    {
        var segments = variable.Split("__");
        var section = $"Freshet:{segments[1]}";
        var files = sources.Where(f => f.Value.Contains($"\"{section}\"", StringComparison.Ordinal)).ToList();
        if (files.Count == 0)
        {
            return $"{variable}: no code reads the configuration section \"{section}\" (e.g. Section = \"Freshet:Auth\" on an options class)";
        }

        var classes = files.SelectMany(f => Regex.Matches(f.Value, @"\bclass\s+(\w+)").Select(m => m.Groups[1].Value)).ToHashSet(StringComparer.Ordinal);
        files.AddRange(sources.Where(f => !files.Any(b => b.Key == f.Key)
            && Regex.Matches(f.Value, @"\bSection\s*=\s*(\w+)\.Section\b").Any(m => classes.Contains(m.Groups[1].Value))));

        var missing = segments.Skip(2)
            .Where(segment => !segment.All(char.IsAsciiDigit))
            .Where(property => !files.Any(f => Regex.IsMatch(f.Value, $@"\bpublic\s+(required\s+)?[\w<>\[\],.?\s]+?\s+{Regex.Escape(property)}\s*\{{\s*get")))
            .ToList();
        return missing.Count == 0
            ? null
            : $"{variable}: the options bound to \"{section}\" ({string.Join(", ", files.Select(f => f.Key))}) have no public property {string.Join(", ", missing)}";
    }

    /// <summary>A manifest template's text with the bodies of the named templates it includes (recursively).</summary>
    private static string TemplateText(string file)
    {
        var defines = HelmTemplates.Defines();
        var text = new System.Text.StringBuilder();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        void Add(string part, int depth)
        {
            text.Append(part).Append('\n');
            foreach (Match include in Regex.Matches(part, @"\binclude\s+""([^""]+)"""))
            {
                if (depth < 10 && seen.Add(include.Groups[1].Value) && defines.TryGetValue(include.Groups[1].Value, out var body))
                {
                    Add(body, depth + 1);
                }
            }
        }

        Add(File.ReadAllText(Path.Combine(HelmTemplates.TemplatesDirectory, file)), 0);
        return text.ToString();
    }

    /// <summary>Environment variable names with the given first segment that one manifest template sets (its includes too).</summary>
    private static List<string> TemplateVariables(string file, string prefix) =>
        [.. Regex.Matches(TemplateText(file), $@"(?<![A-Za-z0-9_]){prefix}(__[A-Za-z0-9]+)+").Select(m => m.Value)
            .Distinct(StringComparer.Ordinal)
            .Order(StringComparer.Ordinal)];

    /// <summary>The verbs a host's executable dispatches on (<c>"verb" =&gt;</c> in Program.cs and its *Commands.cs), and those files.</summary>
    private static (List<string> Files, List<string> Verbs) Verbs(string host)
    {
        var files = Repository.SourceFiles.Keys
            .Where(path => path.StartsWith($"src/{host}/", StringComparison.Ordinal)
                && (path == $"src/{host}/Program.cs" || path.EndsWith("Commands.cs", StringComparison.Ordinal)))
            .Order(StringComparer.Ordinal)
            .ToList();
        var verbs = files.SelectMany(path => Regex.Matches(Repository.SourceFiles[path], @"""([^""]+)""\s*=>").Select(m => m.Groups[1].Value)).Distinct().ToList();
        Assert.True(verbs.Count > 0, $"src/{host}: no verbs (\"verb\" => …) found in {string.Join(", ", files)}; this test reads the commands the image accepts from them.");
        return (files, verbs);
    }

    /// <summary>Source files of a project under src/ and of the projects it references, transitively.</summary>
    private static Dictionary<string, string> ProjectSources(string project)
    {
        var projects = new HashSet<string>(StringComparer.Ordinal);
        var pending = new Stack<string>([project]);
        while (pending.TryPop(out var name))
        {
            if (!projects.Add(name))
            {
                continue;
            }

            foreach (Match reference in Regex.Matches(Repository.Read("src", name, name + ".csproj"), @"<ProjectReference\s+Include=""[./\\]*([^/\\""]+)[/\\][^""]*\.csproj"""))
            {
                pending.Push(reference.Groups[1].Value);
            }
        }

        return Repository.SourceFiles.Where(f => projects.Any(p => f.Key.StartsWith($"src/{p}/", StringComparison.Ordinal)))
            .ToDictionary(f => f.Key, f => f.Value, StringComparer.Ordinal);
    }

    /// <summary>The images the Dockerfile's header says how to build: repository → HOST (the default HOST when no --build-arg).</summary>
    private static Dictionary<string, string> DockerfileBuilds()
    {
        var builds = Regex.Matches(Repository.Read("Dockerfile"), @"docker build\s+(?:--build-arg\s+HOST=([A-Za-z0-9_.-]+)\s+)?(?:--build-arg\s+HOST_DIR=[A-Za-z0-9_.-]+\s+)?-t\s+([^:\s]+):")
            .GroupBy(m => m.Groups[2].Value)
            .ToDictionary(g => g.Key, g => g.First().Groups[1].Success ? g.First().Groups[1].Value : HostProject(), StringComparer.Ordinal);
        Assert.True(builds.Count > 0, "Dockerfile: its header shows no `docker build [--build-arg HOST=…] -t REPOSITORY:tag .`; this test reads each host's image from it.");
        return builds;
    }

    private static IEnumerable<YamlMappingNode> Containers(YamlMappingNode workload) =>
        (HelmTemplates.Child(HelmTemplates.Child(HelmTemplates.Child(HelmTemplates.Child(workload, "spec"), "template"), "spec"), "containers") as YamlSequenceNode)?
            .Children.OfType<YamlMappingNode>() ?? [];

    /// <summary>The HOST the Dockerfile builds by default: the project under src/ whose dll the image runs.</summary>
    private static string HostProject()
    {
        var args = Dockerfile.Load().GlobalArgs;
        Assert.True(args.TryGetValue("HOST", out var host) && !string.IsNullOrWhiteSpace(host),
            "Dockerfile: no global ARG HOST=<project> before the first FROM; the image would not know which host to build.");
        return host!;
    }

    private static List<(string Container, string? Name, int Port)> ContainerPorts()
    {
        var ports = new List<(string, string?, int)>();
        foreach (var deployment in HelmTemplates.OfKind("Deployment"))
        {
            var containers = HelmTemplates.Child(HelmTemplates.Child(HelmTemplates.Child(HelmTemplates.Child(deployment, "spec"), "template"), "spec"), "containers");
            foreach (var container in (containers as YamlSequenceNode)?.Children.OfType<YamlMappingNode>() ?? [])
            {
                var containerName = HelmTemplates.Scalar(container, "name") ?? "?";
                foreach (var port in (HelmTemplates.Child(container, "ports") as YamlSequenceNode)?.Children.OfType<YamlMappingNode>() ?? [])
                {
                    var value = HelmTemplates.Scalar(port, "containerPort");
                    Assert.True(int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var number),
                        $"helm/freshet/templates: container '{containerName}' has containerPort '{value}'; it must be a literal number, because the image fixes it.");
                    ports.Add((containerName, HelmTemplates.Scalar(port, "name"), number));
                }
            }
        }

        return ports;
    }

    private static string DescribePorts(List<(string Container, string? Name, int Port)> ports) =>
        string.Join(", ", ports.Select(p => $"{p.Name}={p.Port}"));

    private static bool ResolvesToContainerPort(string? reference, List<(string Container, string? Name, int Port)> ports) =>
        reference is not null
        && (int.TryParse(reference, NumberStyles.None, CultureInfo.InvariantCulture, out var number)
            ? ports.Any(p => p.Port == number)
            : ports.Any(p => p.Name == reference));

    /// <summary>Environment variable names with the given first segment, anywhere under templates/ (helpers included).</summary>
    private static List<string> EnvironmentVariables(string prefix) =>
        [.. HelmTemplates.AllFiles().Values
            .SelectMany(text => Regex.Matches(text, $@"(?<![A-Za-z0-9_]){prefix}(__[A-Za-z0-9]+)+").Select(m => m.Value))
            .Distinct(StringComparer.Ordinal)
            .Order(StringComparer.Ordinal)];

    private static YamlMappingNode LoadMapping(string path)
    {
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(File.ReadAllText(path)));
        }
        catch (YamlDotNet.Core.YamlException e)
        {
            Assert.Fail($"{Repository.Relative(path)} is not valid YAML (line {e.Start.Line}, column {e.Start.Column}): {e.Message}");
        }

        Assert.True(stream.Documents.Count == 1 && stream.Documents[0].RootNode is YamlMappingNode,
            $"{Repository.Relative(path)} must hold one YAML mapping.");
        return (YamlMappingNode)stream.Documents[0].RootNode;
    }
}
