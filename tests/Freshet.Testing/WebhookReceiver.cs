using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace Freshet.Testing;

/// <summary>One notice as the receiver got it.</summary>
public sealed record ReceivedNotice(Guid Id, long Timestamp, string Signature, string RawBody, JsonElement Body)
{
    public string Type => Body.GetProperty("type").GetString()!;

    public Guid RuleId => Body.GetProperty("rule").GetProperty("id").GetGuid();

    /// <summary>Verifies as a Standard Webhooks receiver does: HMAC-SHA256 of id.timestamp.body, keyed with the secret's bytes.</summary>
    public bool SignatureValid(string secret)
    {
        var key = Convert.FromBase64String(secret["whsec_".Length..]);
        var expected = "v1," + Convert.ToBase64String(HMACSHA256.HashData(key, Encoding.UTF8.GetBytes($"{Id}.{Timestamp.ToString(CultureInfo.InvariantCulture)}.{RawBody}")));
        return Signature.Split(' ').Any(s => CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(s), Encoding.ASCII.GetBytes(expected)));
    }
}

/// <summary>A webhook receiver on a loopback port: records every post; answers 503 to the first <c>failFirst</c> ones.</summary>
public sealed class WebhookReceiver : IAsyncDisposable
{
    private readonly HttpListener _listener;
    private readonly Task _loop;
    private readonly ConcurrentQueue<ReceivedNotice> _received = new();
    private readonly ConcurrentQueue<Guid> _refused = new();
    private int _toRefuse;

    private WebhookReceiver(HttpListener listener, string url, int failFirst)
    {
        _listener = listener;
        Url = url;
        _toRefuse = failFirst;
        _loop = Task.Run(LoopAsync);
    }

    public string Url { get; }

    /// <summary>Every notice answered 2xx, in arrival order.</summary>
    public IReadOnlyList<ReceivedNotice> All => [.. _received];

    /// <summary>Ids of the notices refused with 503.</summary>
    public IReadOnlyList<Guid> Refused => [.. _refused];

    public static WebhookReceiver Start(int failFirst)
    {
        var port = LocalMachine.FreePort();
        var url = $"http://127.0.0.1:{port}/hooks/freshet/";
        var listener = new HttpListener();
        listener.Prefixes.Add(url);
        listener.Start();
        return new WebhookReceiver(listener, url, failFirst);
    }

    public async Task<ReceivedNotice> WaitForAsync(Func<ReceivedNotice, bool> match, TimeSpan within)
    {
        for (var deadline = DateTime.UtcNow + within; DateTime.UtcNow < deadline; await Task.Delay(100))
        {
            if (_received.FirstOrDefault(match) is { } notice)
            {
                return notice;
            }
        }

        throw new TimeoutException($"No matching notice within {within.TotalSeconds} s; received: {string.Join(", ", _received.Select(n => $"{n.Type} {n.RuleId}"))}.");
    }

    private async Task LoopAsync()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync();
            }
            catch (Exception e) when (e is HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
                return;
            }

            using var reader = new StreamReader(context.Request.InputStream, Encoding.UTF8);
            var raw = await reader.ReadToEndAsync();
            var id = Guid.Parse(context.Request.Headers["webhook-id"]!);
            if (Interlocked.Decrement(ref _toRefuse) >= 0)
            {
                _refused.Enqueue(id);
                context.Response.StatusCode = 503;
                context.Response.Headers["Retry-After"] = "0";
            }
            else
            {
                _received.Enqueue(new ReceivedNotice(
                    id,
                    long.Parse(context.Request.Headers["webhook-timestamp"]!, CultureInfo.InvariantCulture),
                    context.Request.Headers["webhook-signature"]!,
                    raw,
                    JsonDocument.Parse(raw).RootElement.Clone()));
                context.Response.StatusCode = 204;
            }

            context.Response.Close();
        }
    }

    public async ValueTask DisposeAsync()
    {
        _listener.Stop();
        _listener.Close();
        await _loop.ConfigureAwait(false);
    }
}
