import KumoCore

/// S3's errors, with the codes, statuses and extra fields S3 sends.
extension AWSError {
    static func noSuchBucket(_ bucket: String) -> AWSError {
        AWSError(code: "NoSuchBucket", message: "The specified bucket does not exist", status: 404, fields: [.init("BucketName", bucket)])
    }

    static func noSuchKey(_ key: String, deleteMarker: String? = nil) -> AWSError {
        AWSError(
            code: "NoSuchKey", message: "The specified key does not exist.", status: 404, fields: [.init("Key", key)],
            headers: deleteMarker.map { [.init("x-amz-delete-marker", "true"), .init("x-amz-version-id", $0)] } ?? [])
    }

    static func noSuchVersion(_ key: String, version: String) -> AWSError {
        AWSError(
            code: "NoSuchVersion", message: "The specified version does not exist.", status: 404,
            fields: [.init("Key", key), .init("VersionId", version)])
    }

    static func noSuchUpload(_ uploadId: String) -> AWSError {
        AWSError(
            code: "NoSuchUpload",
            message: "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.",
            status: 404, fields: [.init("UploadId", uploadId)])
    }

    static func invalidBucketName(_ bucket: String) -> AWSError {
        AWSError(code: "InvalidBucketName", message: "The specified bucket is not valid.", fields: [.init("BucketName", bucket)])
    }

    static func bucketNotEmpty(_ bucket: String) -> AWSError {
        AWSError(
            code: "BucketNotEmpty", message: "The bucket you tried to delete is not empty", status: 409,
            fields: [.init("BucketName", bucket)])
    }

    static func bucketAlreadyOwnedByYou(_ bucket: String) -> AWSError {
        AWSError(
            code: "BucketAlreadyOwnedByYou",
            message: "Your previous request to create the named bucket succeeded and you already own it.", status: 409,
            fields: [.init("BucketName", bucket)])
    }

    static func bucketAlreadyExists(_ bucket: String) -> AWSError {
        AWSError(
            code: "BucketAlreadyExists",
            message: "The requested bucket name is not available. The bucket namespace is shared by all users of the system. Please select a different name and try again.",
            status: 409, fields: [.init("BucketName", bucket)])
    }

    static func s3InvalidArgument(_ message: String, name: String, value: String) -> AWSError {
        AWSError(code: "InvalidArgument", message: message, fields: [.init("ArgumentName", name), .init("ArgumentValue", value)])
    }

    static func s3InvalidRequest(_ message: String) -> AWSError {
        AWSError(code: "InvalidRequest", message: message)
    }

    static func preconditionFailed(_ condition: String) -> AWSError {
        AWSError(
            code: "PreconditionFailed", message: "At least one of the pre-conditions you specified did not hold", status: 412,
            fields: [.init("Condition", condition)])
    }

    static func notModified() -> AWSError {
        AWSError(code: "NotModified", message: "Not Modified", status: 304)
    }

    static func invalidRange(_ requested: String, size: Int64) -> AWSError {
        AWSError(
            code: "InvalidRange", message: "The requested range is not satisfiable", status: 416,
            fields: [.init("RangeRequested", requested), .init("ActualObjectSize", String(size))],
            headers: [.init("Content-Range", "bytes */\(size)")])
    }

    static func badDigest(_ message: String = "The Content-MD5 you specified did not match what we received.") -> AWSError {
        AWSError(code: "BadDigest", message: message)
    }

    static func invalidDigest() -> AWSError {
        AWSError(code: "InvalidDigest", message: "The Content-MD5 you specified was invalid.")
    }

    static func keyTooLong(_ size: Int) -> AWSError {
        AWSError(
            code: "KeyTooLongError", message: "Your key is too long", fields: [.init("MaxSizeAllowed", "1024"), .init("Size", String(size))])
    }

    static func s3MethodNotAllowed(_ method: String, resource: String) -> AWSError {
        AWSError(
            code: "MethodNotAllowed", message: "The specified method is not allowed against this resource.", status: 405,
            fields: [.init("Method", method), .init("ResourceType", resource)])
    }

    static func malformedXML() -> AWSError {
        AWSError(
            code: "MalformedXML",
            message: "The XML you provided was not well-formed or did not validate against our published schema")
    }

    static func s3AccessDenied() -> AWSError {
        AWSError(code: "AccessDenied", message: "Access Denied", status: 403)
    }

    static func entityTooSmall(part: Int) -> AWSError {
        AWSError(
            code: "EntityTooSmall", message: "Your proposed upload is smaller than the minimum allowed size",
            fields: [.init("MinSizeAllowed", "5242880"), .init("PartNumber", String(part))])
    }

    static func invalidPart(_ part: Int, etag: String) -> AWSError {
        AWSError(
            code: "InvalidPart",
            message: "One or more of the specified parts could not be found.  The part may not have been uploaded, or the specified entity tag may not match the part's entity tag.",
            fields: [.init("PartNumber", String(part)), .init("ETag", etag)])
    }

    static func invalidPartOrder() -> AWSError {
        AWSError(code: "InvalidPartOrder", message: "The list of parts was not in ascending order. Parts must be ordered by part number.")
    }

    static func noSuchConfiguration(_ code: String, _ message: String, bucket: String) -> AWSError {
        AWSError(code: code, message: message, status: 404, fields: [.init("BucketName", bucket)])
    }
}
