import NIOCore
import NIOEmbedded
import Testing

@testable import KumoServer

/// Flushes held to the end of the event loop's turn: nothing leaves before it, everything leaves at it.
@Suite struct TurnEndFlushTests {
    func channel(on loop: EmbeddedEventLoop) throws -> EmbeddedChannel {
        let channel = EmbeddedChannel(loop: loop)
        try channel.pipeline.syncOperations.addHandler(TurnEndFlush())
        return channel
    }

    @Test func flushesOfSeveralConnectionsLeaveTogetherAtTheTurnsEnd() throws {
        let loop = EmbeddedEventLoop()
        let a = try channel(on: loop)
        let b = try channel(on: loop)
        a.writeAndFlush(ByteBuffer(string: "one"), promise: nil)
        b.writeAndFlush(ByteBuffer(string: "two"), promise: nil)
        a.writeAndFlush(ByteBuffer(string: "three"), promise: nil)
        #expect(try a.readOutbound(as: ByteBuffer.self) == nil)
        #expect(try b.readOutbound(as: ByteBuffer.self) == nil)
        loop.run()
        #expect(try a.readOutbound(as: ByteBuffer.self) == ByteBuffer(string: "one"))
        #expect(try a.readOutbound(as: ByteBuffer.self) == ByteBuffer(string: "three"))
        #expect(try b.readOutbound(as: ByteBuffer.self) == ByteBuffer(string: "two"))
        // The next turn holds again.
        b.writeAndFlush(ByteBuffer(string: "four"), promise: nil)
        #expect(try b.readOutbound(as: ByteBuffer.self) == nil)
        loop.run()
        #expect(try b.readOutbound(as: ByteBuffer.self) == ByteBuffer(string: "four"))
        _ = try a.finish()
        _ = try b.finish()
    }

    @Test func aCloseSendsWhatWasHeldFirst() throws {
        let loop = EmbeddedEventLoop()
        let a = try channel(on: loop)
        a.writeAndFlush(ByteBuffer(string: "last words"), promise: nil)
        a.close(promise: nil)
        #expect(try a.readOutbound(as: ByteBuffer.self) == ByteBuffer(string: "last words"))
        loop.run()
    }

    @Test func removingTheHandlerSendsWhatItHeld() throws {
        let loop = EmbeddedEventLoop()
        let a = try channel(on: loop)
        a.writeAndFlush(ByteBuffer(string: "held"), promise: nil)
        let handler = try a.pipeline.syncOperations.handler(type: TurnEndFlush.self)
        a.pipeline.syncOperations.removeHandler(handler, promise: nil)
        loop.run()
        #expect(try a.readOutbound(as: ByteBuffer.self) == ByteBuffer(string: "held"))
        a.writeAndFlush(ByteBuffer(string: "now"), promise: nil)
        #expect(try a.readOutbound(as: ByteBuffer.self) == ByteBuffer(string: "now"))
        _ = try a.finish()
    }
}
